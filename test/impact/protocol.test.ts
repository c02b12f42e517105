import { describe, expect, it } from 'vitest';
import { impactStepAnswerSchema, impactStepRequestSchema, scenarioQuestion, scenarioSchema } from '../../lib/impact/protocol.ts';
import type { ImpactStepRequest } from '../../lib/impact/types.ts';

const H = 3_600_000;
const now = Date.now();
const request: ImpactStepRequest = {
  now,
  until: now + 48 * H,
  disruptions: [{ twinId: 'acme:press', capacity: 0, predicted: false, hours: 4 }],
  inputs: [{ supplierId: 'globex:mill', tier: 1, loss: [{ from: now, to: now + H, loss: 0.5 }] }],
  modifications: { alternates: [{ customerId: 'acme:weld', part: null, share: 0.5, leadTimeHours: 2 }], extraStock: [], leadTimes: [] },
};

describe('the impact protocol', () => {
  it('accepts a well-formed step and refuses what is malformed or unbounded', () => {
    expect(impactStepRequestSchema.parse(request)).toEqual(request);
    const accepted = (change: Record<string, unknown>) => impactStepRequestSchema.safeParse({ ...request, ...change }).success;
    expect(accepted({ until: now - 1 })).toBe(false);
    expect(accepted({ now: now + 11 * 366 * 24 * H })).toBe(false);
    expect(accepted({ now: now + 0.5 })).toBe(false);
    expect(accepted({ disruptions: [{ ...request.disruptions[0], capacity: 1 }] })).toBe(false);
    expect(accepted({ disruptions: [{ ...request.disruptions[0], twinId: 'press' }] })).toBe(false);
    expect(accepted({ disruptions: [{ ...request.disruptions[0], from: now + H, to: now }] })).toBe(false);
    expect(accepted({ disruptions: Array.from({ length: 51 }, () => request.disruptions[0]) })).toBe(false);
    expect(accepted({ inputs: [{ ...request.inputs[0], loss: [{ from: now, to: now + H, loss: Infinity }] }] })).toBe(false);
    expect(accepted({ inputs: [{ ...request.inputs[0], loss: [{ from: now + H, to: now, loss: 0.5 }] }] })).toBe(false);
    expect(accepted({ inputs: [{ ...request.inputs[0], loss: Array.from({ length: 65 }, (_, i) => ({ from: now + i, to: now + i + 1, loss: 1 })) }] })).toBe(
      false,
    );
    expect(accepted({ modifications: { ...request.modifications, alternates: [{ ...request.modifications.alternates[0], share: 1.5 }] } })).toBe(false);
    expect(
      accepted({
        modifications: {
          ...request.modifications,
          leadTimes: Array.from({ length: 201 }, () => ({ customerId: 'acme:a', supplierId: 'acme:b', leadTimeHours: 1 })),
        },
      }),
    ).toBe(false);
  });

  it('bounds an answer', () => {
    const answer = { disruptions: [], affected: [], outputs: request.inputs, dependsOn: [], statement: 'x.y.z', hidden: 0, cycles: [] };
    expect(impactStepAnswerSchema.parse(answer)).toEqual(answer);
    expect(impactStepAnswerSchema.safeParse({ ...answer, outputs: Array.from({ length: 10_001 }, () => request.inputs[0]) }).success).toBe(false);
    expect(impactStepAnswerSchema.safeParse({ ...answer, hidden: -1 }).success).toBe(false);
    const on = Array.from({ length: 5000 }, (_, i) => `globex:t${i}`);
    const dependsOn = Array.from({ length: 21 }, (_, i) => ({ supplierId: `acme:t${i}`, on }));
    expect(impactStepAnswerSchema.safeParse({ ...answer, dependsOn: dependsOn.slice(0, 20) }).success).toBe(true);
    expect(impactStepAnswerSchema.safeParse({ ...answer, dependsOn }).success).toBe(false);
    expect(impactStepAnswerSchema.safeParse({ ...answer, dependsOn: [{ supplierId: 'acme:t0', on: [...on, ...on.slice(0, 51)] }] }).success).toBe(false);
  });

  it('turns a saved scenario into the question it asks, with its defaults', () => {
    const scenario = scenarioSchema.parse({
      name: 'press down a day',
      disruptions: [
        { twinId: 'acme:press', from: '2026-12-01T08:00:00Z', hours: 24 },
        { twinId: 'acme:oven', predicted: true },
      ],
      extraStock: [{ customerId: 'acme:weld', supplierId: 'acme:press', days: 2 }],
    });
    expect(scenarioQuestion(scenario, now, 72, 3)).toEqual({
      disruptions: [
        { twinId: 'acme:press', from: Date.UTC(2026, 11, 1, 8), hours: 24, capacity: 0, predicted: false },
        { twinId: 'acme:oven', capacity: 0, predicted: true },
      ],
      modifications: { alternates: [], extraStock: [{ customerId: 'acme:weld', supplierId: 'acme:press', days: 2 }], leadTimes: [] },
      horizonHours: 72,
      maxHops: 3,
      now,
    });
    expect(scenarioSchema.safeParse({ name: 'nothing', disruptions: [] }).success).toBe(false);
    expect(scenarioSchema.safeParse({ name: '', disruptions: [{ twinId: 'acme:press' }] }).success).toBe(false);
    expect(scenarioSchema.safeParse({ name: 'x', disruptions: [{ twinId: 'acme:press', from: 'tomorrow' }] }).success).toBe(false);
    expect(
      scenarioSchema.safeParse({ name: 'x', disruptions: [{ twinId: 'acme:press', from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z' }] }).success,
    ).toBe(false);
  });
});
