import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../subgraphs/org/analytics/rul.ts';
import { twinx } from '../support/cli.ts';
import { syntheticFleet } from '../support/fleet.ts';

/** A C-MAPSS line (unit, cycle, 3 settings, 21 sensors) carrying a synthetic unit's metrics in sensors 2–5. */
const cmapss = (unit: number, run: Run, cut = 0) =>
  run.steps
    .slice(0, run.steps.length - cut)
    .map(({ t, values: v }) => [unit, t, 0, 0, 100, 518.67, v.rising, v.falling, v.constant, v.noise, ...Array(16).fill(1)].join(' '));

describe('twinx analytics rul-backtest', () => {
  let dir: string;
  let train: string;
  let test: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twinx-rul-'));
    train = join(dir, 'train.txt');
    test = join(dir, 'test.txt');
    await writeFile(
      train,
      `${syntheticFleet(8, 1, { min: 50, max: 90 })
        .flatMap((run, i) => cmapss(i + 1, run))
        .join('\n')}\n`,
    );
    await writeFile(
      test,
      `${syntheticFleet(3, 2, { min: 50, max: 90 })
        .flatMap((run, i) => cmapss(i + 1, run, 20))
        .join('\n')}\n`,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a header and unit,p10,p50,p90 for the last cycle of each test unit', async () => {
    const result = await twinx(['analytics', 'rul-backtest', '--train', train, '--test', test, '--cap', '40']);
    expect(result.stderr).toMatch(/trained on 8 units/);
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trim().split('\n');
    expect(header).toBe('unit,p10,p50,p90');
    expect(rows.map((row) => row.split(',')[0])).toEqual(['1', '2', '3']);
    for (const row of rows) {
      const [p10, p50, p90] = row.split(',').slice(1).map(Number) as [number, number, number];
      expect(0 <= p10 && p10 <= p50 && p50 <= p90).toBe(true);
      // 20 cycles were cut before failure.
      expect(Math.abs(p50 - 20)).toBeLessThan(10);
    }
  });

  it('exits 1 naming the file and line of a malformed line', async () => {
    const bad = join(dir, 'bad.txt');
    await writeFile(bad, '1 1 0 0 100 1 2 3\n');
    const result = await twinx(['analytics', 'rul-backtest', '--train', train, '--test', bad]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${bad}:1: expected 26 numbers`);
    expect(result.stdout).toBe('');
  });

  it('exits 1 saying why when the history is too short to learn from', async () => {
    const result = await twinx(['analytics', 'rul-backtest', '--train', test, '--test', test]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Too little run-to-failure history: 3 failed run/);
  });
});
