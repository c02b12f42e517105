import { describe, expect, it } from 'vitest';
import { anyOf, chanceWithin } from '../../lib/impact/chance.ts';
import type { ResolvedDisruption } from '../../lib/impact/types.ts';

const H = 3_600_000;
const now = Date.UTC(2026, 11, 1);
const predicted: ResolvedDisruption = { twinId: 'acme:press', from: now + 10 * H, to: now + 20 * H, capacity: 0, predicted: true, spreadHours: 2 };

describe('the chance that a disruption hits within the horizon', () => {
  it('is certain or nil for a disruption that is not predicted', () => {
    const planned = { ...predicted, predicted: false, spreadHours: null };
    expect(chanceWithin(planned, 5 * H, now, now + 15 * H)).toBe(1);
    expect(chanceWithin(planned, 5 * H + 1, now, now + 15 * H)).toBe(0);
  });

  it('follows the normal distribution of a predicted start, which has not come yet', () => {
    // Its mean start, two standard deviations away from now, hits half the time.
    expect(chanceWithin(predicted, 0, now, now + 10 * H)).toBeCloseTo(0.5, 2);
    // One standard deviation later: Φ(1), renormalised by the start not being past (Φ(−5) is negligible).
    expect(chanceWithin(predicted, 4 * H, now, now + 16 * H)).toBeCloseTo(0.8413, 3);
    expect(chanceWithin(predicted, 0, now, now + 100 * H)).toBeCloseTo(1, 6);
    expect(chanceWithin(predicted, 6 * H, now, now + 5 * H)).toBe(0);
    // A start long overdue is taken to be now.
    expect(chanceWithin({ ...predicted, from: now - 100 * H }, H, now, now + 2 * H)).toBe(1);
  });

  it('of any of independent events is one less the chance of none', () => {
    expect(anyOf([0.5, 0.5])).toBe(0.75);
    expect(anyOf([0.2, 1])).toBe(1);
    expect(anyOf([])).toBe(0);
  });
});
