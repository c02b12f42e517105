import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TwinxError } from '../../../lib/errors.ts';
import { type RulModel, type Run, estimateRul, newRulState, trainRulModel, updateRulState } from '../../../subgraphs/org/analytics/rul.ts';
import { syntheticFleet } from '../../support/fleet.ts';

const CAP = 60;

function estimatesOver(model: RulModel, run: Run) {
  const state = newRulState();
  return run.steps.map((step) => {
    updateRulState(model, state, step);
    return { t: step.t, rul: run.steps[run.steps.length - 1]!.t - step.t, estimate: estimateRul(model, state) };
  });
}

async function invalidInput(train: () => unknown): Promise<TwinxError> {
  try {
    await train();
  } catch (error) {
    expect(error).toBeInstanceOf(TwinxError);
    expect((error as TwinxError).code).toBe(ErrorCode.INVALID_INPUT);
    return error as TwinxError;
  }
  throw new Error('expected INVALID_INPUT');
}

describe('remaining useful life', () => {
  const fleet = syntheticFleet(24, 7);
  const heldOut = syntheticFleet(8, 99);
  let model: RulModel;
  beforeAll(async () => {
    model = await trainRulModel(fleet, { cap: CAP, seed: 3 });
  });

  it('reads only the metrics that move with wear', () => {
    expect(model.metrics.map((m) => m.name)).toEqual(['falling', 'rising']);
    expect(JSON.stringify(model).length).toBeLessThan(1_000_000);
  });

  it('estimates held-out units close to their true RUL, with ordered quantiles', () => {
    const errors: number[] = [];
    let covered = 0;
    for (const run of heldOut) {
      for (const { rul, estimate } of estimatesOver(model, run).slice(4)) {
        expect(estimate).not.toBeNull();
        const { p10, p50, p90, health } = estimate!;
        expect(0 <= p10 && p10 <= p50 && p50 <= p90).toBe(true);
        expect(health).toBeGreaterThanOrEqual(0);
        expect(health).toBeLessThanOrEqual(1);
        const truth = Math.min(CAP, rul);
        errors.push(p50 - truth);
        if (p10 <= truth && truth <= p90) covered++;
      }
    }
    const rmse = Math.sqrt(errors.reduce((sum, e) => sum + e * e, 0) / errors.length);
    expect(rmse).toBeLessThan(5);
    expect(covered / errors.length).toBeGreaterThan(0.7);
    expect(covered / errors.length).toBeLessThan(0.97);
  });

  it('gives a health that declines over a run, from as new to near failure', () => {
    for (const run of heldOut) {
      const health = estimatesOver(model, run).map(({ estimate }) => estimate?.health);
      const at = (share: number) => health[Math.floor(share * (health.length - 1))]!;
      expect(at(0.1)).toBeGreaterThan(0.9);
      expect(at(0.1)).toBeGreaterThan(at(0.75));
      expect(at(0.75)).toBeGreaterThan(at(1));
      expect(at(1)).toBeLessThan(0.2);
    }
  });

  it('gives no estimate until the state holds a few steps', () => {
    const state = newRulState();
    const [run] = heldOut;
    for (const step of run!.steps.slice(0, 4)) {
      updateRulState(model, state, step);
      expect(estimateRul(model, state)).toBeNull();
    }
    updateRulState(model, state, run!.steps[4]!);
    expect(estimateRul(model, state)).not.toBeNull();
  });

  it('continues identically from a model and a state that went through JSON mid-run', () => {
    const run = heldOut[1]!;
    const half = Math.floor(run.steps.length / 2);
    const state = newRulState();
    for (const step of run.steps.slice(0, half)) updateRulState(model, state, step);
    const storedModel = JSON.parse(JSON.stringify(model)) as RulModel;
    const storedState = JSON.parse(JSON.stringify(state)) as typeof state;
    for (const step of run.steps.slice(half)) {
      updateRulState(model, state, step);
      updateRulState(storedModel, storedState, step);
      expect(estimateRul(storedModel, storedState)).toEqual(estimateRul(model, state));
    }
  });

  it('learns from runs stopped before failure only where failure was at least the cap away', async () => {
    // Nineteen units stopped after 30 steps, all 50 or more steps before they would have failed.
    const stopped = fleet.slice(5).map((run) => ({ ...run, steps: run.steps.slice(0, 30), failed: false }));
    const withStopped = await trainRulModel([...fleet.slice(0, 5), ...stopped], { cap: CAP, seed: 3 });
    for (const run of heldOut) {
      // Every held-out unit lives 80 steps or more: at step 20 its capped RUL is the cap.
      const { estimate } = estimatesOver(withStopped, run)[19]!;
      expect(estimate!.p50).toBeGreaterThan(0.8 * CAP);
    }
  });

  it('is deterministic given the seed', async () => {
    const few = fleet.slice(0, 5);
    expect(await trainRulModel(few, { cap: CAP, seed: 5 })).toEqual(await trainRulModel(few, { cap: CAP, seed: 5 }));
    expect(await trainRulModel(few, { cap: CAP, seed: 6 })).not.toEqual(await trainRulModel(few, { cap: CAP, seed: 5 }));
  });

  it('refuses too little run-to-failure history, saying why', async () => {
    expect((await invalidInput(() => trainRulModel(fleet.slice(0, 4)))).message).toMatch(/Too little run-to-failure history: 4 failed run/);
    // Censored runs alone tell no failure.
    expect((await invalidInput(() => trainRulModel(fleet.map((run) => ({ ...run, failed: false }))))).details).toMatchObject({ failedRuns: 0 });
    expect(
      await invalidInput(() => trainRulModel(fleet.map((run) => ({ ...run, steps: run.steps.map((s) => ({ t: s.t, values: { constant: 7 } })) })))),
    ).toBeDefined();
  });

  it('refuses steps out of time order, a bad cap and a state of another model', async () => {
    const shuffled = { ...fleet[0]!, steps: [...fleet[0]!.steps].reverse() };
    expect((await invalidInput(() => trainRulModel([shuffled, ...fleet.slice(1)]))).details).toMatchObject({ unit: shuffled.unit });
    await invalidInput(() => trainRulModel(fleet, { cap: 0 }));
    const state = newRulState();
    updateRulState(model, state, { t: 10, values: {} });
    await invalidInput(() => updateRulState(model, state, { t: 9, values: {} }));
    // A state belongs to the model it was built with.
    await invalidInput(() => updateRulState({ ...model, metrics: model.metrics.slice(1) }, state, { t: 11, values: {} }));
  });
});
