import { ErrorCode, fail } from '../../../lib/errors.ts';

/** One observation of a unit: its time since the run started (`t`, in the run's unit) and its metrics' values. */
export interface RunStep {
  t: number;
  values: Readonly<Record<string, number>>;
}

/** A unit's run from a fresh start (new or repaired) to its failure (`failed`) or to now (censored). */
export interface Run {
  unit: string;
  steps: readonly RunStep[];
  failed: boolean;
}

export interface RulOptions {
  /** Largest remaining life the model predicts (piecewise-linear target, Heimes 2008). @default the longest failed run */
  cap?: number;
  /** Accepted for models that sample; this one is deterministic. */
  seed?: number;
}

/** How one metric degrades across the fleet: its healthy level and its level at failure. */
interface MetricScale {
  name: string;
  baseline: number;
  failure: number;
}

/** A trained model: plain JSON, stored with the kind of twin it was learned for. */
export type RulModel = {
  version: 1;
  metrics: MetricScale[];
  /** Smoothing weight of each new step's degradation (exponentially weighted mean). */
  alpha: number;
  /** RUL ≈ intercept + slope × degradation, fitted on the failed runs. */
  intercept: number;
  slope: number;
  /** 10th and 90th percentiles of the fit's residuals: the interval around p50. */
  q10: number;
  q90: number;
  cap: number;
};

/** A unit's state along its current run: its smoothed degradation, steps seen, and its latest time. */
export type RulState = { degradation: number | null; steps: number; t: number };

/** A unit's health in [0, 1] (1 as new) and its remaining life quantiles, in the unit of `t`. */
export interface RulEstimate {
  health: number;
  p10: number;
  p50: number;
  p90: number;
}

const ALPHA = 0.2;
/** Fraction of each failed run taken as its healthy start. */
const HEALTHY_SHARE = 0.2;

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/** The step's degradation: its metrics' mean position between the fleet's healthy level (0) and failure level (1). */
function degradationOf(metrics: readonly MetricScale[], values: Readonly<Record<string, number>>): number | null {
  const positions = metrics.flatMap((m) => (values[m.name] === undefined ? [] : [(values[m.name]! - m.baseline) / (m.failure - m.baseline)]));
  return positions.length === 0 ? null : mean(positions);
}

function smooth(alpha: number, previous: number | null, next: number): number {
  return previous === null ? next : previous + alpha * (next - previous);
}

/**
 * Learns a health index and a remaining-life regression from run-to-failure history: each metric
 * is scaled between its fleet-wide healthy level and its level at failure (a health-index
 * construction after Wang et al., "A similarity-based prognostics approach", PHM 2008), the
 * smoothed mean of the scaled metrics is regressed linearly on the remaining life, capped, and the
 * residuals' quantiles give the interval. Throws `INVALID_INPUT` with fewer than two failed runs
 * or no metric that moves towards failure.
 */
export function trainRulModel(runs: readonly Run[], options: RulOptions = {}): RulModel {
  const failed = runs.filter((run) => run.failed && run.steps.length >= 2);
  if (failed.length < 2) throw fail(ErrorCode.INVALID_INPUT, `${failed.length} run(s) to failure recorded, at least 2 are needed.`);
  const names = [...new Set(failed.flatMap((run) => run.steps.flatMap((step) => Object.keys(step.values))))].sort();
  const metrics = names.flatMap((name): MetricScale[] => {
    const healthy = failed.flatMap((run) =>
      run.steps.slice(0, Math.max(1, Math.floor(run.steps.length * HEALTHY_SHARE))).flatMap((step) => step.values[name] ?? []),
    );
    const atFailure = failed.flatMap((run) => run.steps.at(-1)!.values[name] ?? []);
    if (healthy.length === 0 || atFailure.length === 0) return [];
    const baseline = mean(healthy);
    const failure = mean(atFailure);
    const spread = Math.sqrt(mean(healthy.map((value) => (value - baseline) ** 2)));
    // A metric that ends where it started tells nothing about wear.
    return Math.abs(failure - baseline) > Math.max(spread, 1e-9) ? [{ name, baseline, failure }] : [];
  });
  if (metrics.length === 0) throw fail(ErrorCode.INVALID_INPUT, 'No metric moves between healthy operation and failure.');
  const cap = options.cap ?? Math.max(...failed.map((run) => run.steps.at(-1)!.t - run.steps[0]!.t));
  const points: { x: number; y: number }[] = [];
  for (const run of failed) {
    const end = run.steps.at(-1)!.t;
    let degradation: number | null = null;
    for (const step of run.steps) {
      const d = degradationOf(metrics, step.values);
      if (d === null) continue;
      degradation = smooth(ALPHA, degradation, d);
      points.push({ x: degradation, y: Math.min(cap, end - step.t) });
    }
  }
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  const sxx = points.reduce((sum, p) => sum + (p.x - mx) ** 2, 0);
  const slope = sxx === 0 ? 0 : points.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0) / sxx;
  const intercept = my - slope * mx;
  const residuals = points.map((p) => p.y - (intercept + slope * p.x)).sort((a, b) => a - b);
  return { version: 1, metrics, alpha: ALPHA, intercept, slope, q10: quantile(residuals, 0.1), q90: quantile(residuals, 0.9), cap };
}

/** The state of a unit at the start of a run. */
export function newRulState(): RulState {
  return { degradation: null, steps: 0, t: 0 };
}

/** Feeds one step of the unit's run (in time order) into its state. */
export function updateRulState(model: RulModel, state: RulState, step: RunStep): void {
  const d = degradationOf(model.metrics, step.values);
  if (d === null) return;
  state.degradation = smooth(model.alpha, state.degradation, d);
  state.steps += 1;
  state.t = step.t;
}

/** The unit's health and remaining life after the steps fed so far; null before any step with the model's metrics. */
export function estimateRul(model: RulModel, state: RulState): RulEstimate | null {
  if (state.degradation === null) return null;
  const clamp = (value: number) => Math.min(model.cap, Math.max(0, value));
  const p50 = model.intercept + model.slope * state.degradation;
  return { health: Math.min(1, Math.max(0, 1 - state.degradation)), p10: clamp(p50 + model.q10), p50: clamp(p50), p90: clamp(p50 + model.q90) };
}
