// Health index and remaining useful life (RUL) of a kind of twin, learned from its fleet's
// run-to-failure histories. Pure: no I/O; the organization stores the model (per twin kind) and
// the state (per twin) as JSON, and backtests run the same functions on files.
//
// The recipe is the strong non-deep one of the C-MAPSS literature: keep the metrics that move
// with wear, standardize them, describe each step by trailing-window features (level, trend,
// recent level), regress a piecewise-linear RUL target capped where degradation is not yet
// visible (Heimes 2008, PHM08 challenge; a cap ≈ 125 cycles for FD001), with gradient-boosted
// trees (./boosting.ts). The interval is split-conformal (Vovk et al. 2005; Lei et al. 2018),
// made local by conditioning on the predicted RUL (Mondrian bins): residuals of models that did
// not see a unit (k-fold by unit as in CV+, Barber et al. 2021, so that a unit's correlated
// steps never calibrate themselves)
// give, per range of predicted RUL, the 10th, 50th and 90th percentiles of the error. Errors
// grow with the RUL still to come, so one global band would be too wide near failure and too
// narrow far from it.
import { ErrorCode, fail } from '../../../lib/errors.ts';
import { type Ensemble, fitEnsemble, mulberry32, predict } from './boosting.ts';

/** One time step of one unit: the time since the start of its run (cycles or hours; the model is
 *  unit-agnostic) and its metric values at that step (metric name → value; some may be missing). */
export interface RunStep {
  t: number;
  values: Readonly<Record<string, number>>;
}

/** One run of one unit, in time order. `failed`: it ended in a failure (run to failure) — otherwise it
 *  was stopped before failure (censored) and is used only as far as it informs the model. */
export interface Run {
  unit: string;
  steps: readonly RunStep[];
  failed: boolean;
}

export interface RulOptions {
  /** RUL cap of the piecewise-linear target, in t units. @default 125 */
  cap?: number;
  /** Seed of row sampling and of the calibration folds. @default 1 */
  seed?: number;
}

/** A trained model: plain JSON (stored as jsonb per twin kind), bounded size (< 1 MB). */
export type RulModel = {
  version: 1;
  cap: number;
  /** The metrics the model reads, with the mean and standard deviation that standardize them. */
  metrics: { name: string; mean: number; std: number }[];
  ensemble: Ensemble;
  /** Quantiles of the error (true − predicted RUL) at increasing predicted RUL `at`, interpolated between. */
  calibration: { at: number[]; q10: number[]; q50: number[]; q90: number[] };
};

/** Streaming state of one running unit (JSON, bounded): what the model needs from its recent steps. */
export type RulState = {
  /** Steps fed so far. */
  steps: number;
  /** Time of the last step. */
  t: number;
  /** Last known standardized value per model metric (carried forward over missing values; 0, the fleet mean, before any). */
  last: number[];
  /** Exponentially weighted mean per model metric. */
  ewma: number[];
  /** The trailing window: times and standardized values of up to `WINDOW` steps. */
  times: number[];
  window: number[][];
};

export interface RulEstimate {
  /** 1 = as new, 0 = at failure. */
  health: number;
  /** Remaining useful life quantiles, in t units: p10 ≤ p50 ≤ p90. */
  p10: number;
  p50: number;
  p90: number;
}

/** Steps in the trailing window: long enough for a trend to rise above the noise of single readings. */
const WINDOW = 30;
/** Weight of the newest step in the recent level (a span of ~6 steps). */
const EWMA_ALPHA = 0.3;
/** Steps before the first estimate: a trend from fewer points is noise. */
const MIN_STEPS = 5;
/** Folds of the calibration; also the fewest run-to-failure histories the model accepts. */
const FOLDS = 5;
/** Ranges of predicted RUL the calibration conditions on. */
const CALIBRATION_BINS = 8;
/** A metric whose correlation with the RUL target is weaker than this does not move with wear and only adds noise. */
const MIN_CORRELATION = 0.1;

/**
 * Learns a kind's degradation from its runs. Throws INVALID_INPUT when there is too little
 * run-to-failure history. It fits six ensembles (five calibration folds and the model), each in
 * time linear in steps × metrics: about 10 s of CPU for 80 C-MAPSS engines (16 000 steps), given
 * back to the event loop after each tree.
 */
export async function trainRulModel(runs: readonly Run[], options: RulOptions = {}): Promise<RulModel> {
  const { cap = 125, seed = 1 } = options;
  if (!(Number.isFinite(cap) && cap > 0)) throw fail(ErrorCode.INVALID_INPUT, `RUL cap must be a positive number, got ${cap}.`);
  runs.forEach(checkRun);
  const failed = runs.filter((run) => run.failed && run.steps.length >= MIN_STEPS);
  if (failed.length < FOLDS) {
    throw fail(
      ErrorCode.INVALID_INPUT,
      `Too little run-to-failure history: ${failed.length} failed run(s) of at least ${MIN_STEPS} steps; the model needs ${FOLDS} to learn how the kind degrades and how far to trust it.`,
      { failedRuns: failed.length, required: FOLDS },
    );
  }
  // A censored run tells the target only where its end is at least `cap` away: the capped RUL is then `cap`.
  const targetOf = (run: Run, t: number) => {
    const left = run.steps[run.steps.length - 1]!.t - t;
    return run.failed ? Math.min(cap, left) : left >= cap ? cap : undefined;
  };
  const metrics = selectMetrics(runs, targetOf);
  if (metrics.length === 0) throw fail(ErrorCode.INVALID_INPUT, 'No metric moves with wear in the run-to-failure history: nothing to learn from.');

  const shape: RulModel = { version: 1, cap, metrics, ensemble: { base: 0, trees: [] }, calibration: { at: [], q10: [], q50: [], q90: [] } };
  const width = 3 * metrics.length + 1;
  const rows: number[] = [];
  const targets: number[] = [];
  const runOfRow: number[] = [];
  runs.forEach((run, index) => {
    const state = newRulState();
    for (const step of run.steps) {
      updateRulState(shape, state, step);
      const target = targetOf(run, step.t);
      if (state.steps < MIN_STEPS || target === undefined) continue;
      rows.push(...features(state));
      targets.push(target);
      runOfRow.push(index);
    }
  });
  const matrix = Float64Array.from(rows);
  const y = Float64Array.from(targets);
  const random = mulberry32(seed);

  // Out-of-fold predictions, folds drawn over runs; failed runs are dealt first, so that every
  // fold's model learns from failures.
  const order = runs.map((_, index) => index);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  order.sort((a, b) => Number(runs[b]!.failed) - Number(runs[a]!.failed));
  const foldOfRun = new Array<number>(runs.length);
  order.forEach((run, position) => (foldOfRun[run] = position % FOLDS));
  const predicted = new Float64Array(y.length);
  for (let fold = 0; fold < FOLDS; fold++) {
    const inFold = (row: number) => foldOfRun[runOfRow[row]!] === fold;
    const train = [...y.keys()].filter((row) => !inFold(row));
    const ensemble = await fitEnsemble(
      pick(matrix, width, train),
      width,
      Float64Array.from(train, (row) => y[row]!),
      random,
    );
    for (let row = 0; row < y.length; row++)
      if (inFold(row)) predicted[row] = clamp(predict(ensemble, matrix.subarray(row * width, (row + 1) * width)), 0, cap);
  }
  return { ...shape, ensemble: await fitEnsemble(matrix, width, y, random), calibration: calibrate(predicted, y) };
}

/** The state of a unit that has not reported yet (or whose model was retrained: states follow their model). */
export function newRulState(): RulState {
  return { steps: 0, t: 0, last: [], ewma: [], times: [], window: [] };
}

/** Feeds one step (in time order). Mutates state. A value that is missing or not finite counts as missing. */
export function updateRulState(model: RulModel, state: RulState, step: RunStep): void {
  if (!Number.isFinite(step.t) || (state.steps > 0 && step.t < state.t)) {
    throw fail(ErrorCode.INVALID_INPUT, `Steps must come in time order with finite times: got t = ${step.t} after t = ${state.t}.`);
  }
  if (state.steps === 0) {
    state.last = model.metrics.map(() => 0);
    state.ewma = model.metrics.map(() => 0);
  }
  checkState(model, state);
  model.metrics.forEach(({ name, mean, std }, m) => {
    const value = step.values[name];
    if (value !== undefined && Number.isFinite(value)) state.last[m] = (value - mean) / std;
    state.ewma[m] = state.steps === 0 ? state.last[m]! : EWMA_ALPHA * state.last[m]! + (1 - EWMA_ALPHA) * state.ewma[m]!;
  });
  state.steps++;
  state.t = step.t;
  state.times.push(step.t);
  state.window.push([...state.last]);
  if (state.times.length > WINDOW) {
    state.times.shift();
    state.window.shift();
  }
}

/** Null until the state holds `MIN_STEPS` steps. Health is p50 / cap (clamped to [0, 1]): 1 while no wear shows, 0 at predicted failure. */
export function estimateRul(model: RulModel, state: RulState): RulEstimate | null {
  if (state.steps < MIN_STEPS) return null;
  checkState(model, state);
  const point = clamp(predict(model.ensemble, features(state)), 0, model.cap);
  const { at, q10, q50, q90 } = model.calibration;
  const p50 = Math.max(0, point + interpolate(at, q50, point));
  const p10 = clamp(point + interpolate(at, q10, point), 0, p50);
  const p90 = Math.max(p50, point + interpolate(at, q90, point));
  return { health: clamp(p50 / model.cap, 0, 1), p10, p50, p90 };
}

/** Per model metric: the window's mean and least-squares slope (per t unit), and the recent level; then t. */
function features(state: RulState): number[] {
  const { times, window } = state;
  const n = times.length;
  const meanT = times.reduce((sum, t) => sum + t, 0) / n;
  const spread = times.reduce((sum, t) => sum + (t - meanT) ** 2, 0);
  const out: number[] = [];
  state.last.forEach((_, m) => {
    let mean = 0;
    for (const row of window) mean += row[m]!;
    mean /= n;
    let covariance = 0;
    for (let i = 0; i < n; i++) covariance += (times[i]! - meanT) * (window[i]![m]! - mean);
    out.push(mean, spread > 0 ? covariance / spread : 0, state.ewma[m]!);
  });
  out.push(state.t);
  return out;
}

/** A state follows the model it was built with; after retraining, a twin's state starts anew. */
function checkState(model: RulModel, state: RulState): void {
  if (state.last.length !== model.metrics.length) {
    throw fail(ErrorCode.INVALID_INPUT, `The state was built for a model of ${state.last.length} metrics, this one reads ${model.metrics.length}.`);
  }
}

function checkRun(run: Run): void {
  let previous = -Infinity;
  for (const step of run.steps) {
    if (!Number.isFinite(step.t) || step.t < previous) {
      throw fail(ErrorCode.INVALID_INPUT, `Run ${run.unit}: steps must come in time order with finite times (t = ${step.t} after ${previous}).`, {
        unit: run.unit,
      });
    }
    previous = step.t;
  }
}

/** The metrics that vary and follow the RUL target (|Pearson r| ≥ MIN_CORRELATION), with their mean and standard deviation. */
function selectMetrics(runs: readonly Run[], targetOf: (run: Run, t: number) => number | undefined): RulModel['metrics'] {
  const sums = new Map<string, { n: number; v: number; vv: number; y: number; yy: number; vy: number }>();
  for (const run of runs) {
    for (const step of run.steps) {
      const y = targetOf(run, step.t);
      if (y === undefined) continue;
      for (const [name, v] of Object.entries(step.values)) {
        if (!Number.isFinite(v)) continue;
        const s = sums.get(name) ?? { n: 0, v: 0, vv: 0, y: 0, yy: 0, vy: 0 };
        s.n++;
        s.v += v;
        s.vv += v * v;
        s.y += y;
        s.yy += y * y;
        s.vy += v * y;
        sums.set(name, s);
      }
    }
  }
  const selected: RulModel['metrics'] = [];
  for (const [name, s] of [...sums].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const mean = s.v / s.n;
    const varV = s.vv / s.n - mean * mean;
    const varY = s.yy / s.n - (s.y / s.n) ** 2;
    // Relative to the level: a metric whose variance is rounding noise of its mean is constant.
    if (!(varV > 1e-12 * Math.max(1, mean * mean)) || !(varY > 0)) continue;
    const r = (s.vy / s.n - mean * (s.y / s.n)) / Math.sqrt(varV * varY);
    if (Math.abs(r) >= MIN_CORRELATION) selected.push({ name, mean, std: Math.sqrt(varV) });
  }
  return selected;
}

/** Error quantiles in equal-count bins of predicted RUL. */
function calibrate(predicted: Float64Array, truth: Float64Array): RulModel['calibration'] {
  const rows = [...predicted.keys()].sort((a, b) => predicted[a]! - predicted[b]!);
  const calibration: RulModel['calibration'] = { at: [], q10: [], q50: [], q90: [] };
  for (let bin = 0; bin < CALIBRATION_BINS; bin++) {
    const members = rows.slice(Math.floor((bin * rows.length) / CALIBRATION_BINS), Math.floor(((bin + 1) * rows.length) / CALIBRATION_BINS));
    if (members.length === 0) continue;
    const errors = members.map((row) => truth[row]! - predicted[row]!).sort((a, b) => a - b);
    const quantile = (q: number) => errors[Math.min(errors.length - 1, Math.floor(q * errors.length))]!;
    calibration.at.push(predicted[members[Math.floor(members.length / 2)]!]!);
    calibration.q10.push(quantile(0.1));
    calibration.q50.push(quantile(0.5));
    calibration.q90.push(quantile(0.9));
  }
  return calibration;
}

/** Linear interpolation of `ys` at `x` over increasing `xs`, constant beyond the ends. */
function interpolate(xs: number[], ys: number[], x: number): number {
  if (x <= xs[0]!) return ys[0]!;
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]!) {
      const w = xs[i]! > xs[i - 1]! ? (x - xs[i - 1]!) / (xs[i]! - xs[i - 1]!) : 1;
      return ys[i - 1]! + w * (ys[i]! - ys[i - 1]!);
    }
  }
  return ys[ys.length - 1]!;
}

function pick(matrix: Float64Array, width: number, rows: number[]): Float64Array {
  const out = new Float64Array(rows.length * width);
  rows.forEach((row, i) => out.set(matrix.subarray(row * width, (row + 1) * width), i * width));
  return out;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));
