// Streaming anomaly detectors: every metric of every twin is scored as its readings are ingested,
// from its own history only. Pure: no I/O; the state is plain JSON kept per series.
//
// Each reading is compared with several forecasters that learn the series' normal behaviour —
// the last value, a moving level, and the level plus a daily and a weekly profile (Holt–Winters
// style seasonal indices, kept per time of day / week so irregular sampling and gaps need no
// resampling). The one with the smallest running error is the baseline (forecast selection by
// out-of-sample error, as in Hyndman & Athanasopoulos, "Forecasting: Principles and Practice").
// Each detector turns its statistic into a surprise in nats (−ln of how likely the observation is
// under normal behaviour), so detectors of different kinds compare on one scale:
// - spike:    the residual against a Laplace law whose scale is the running mean absolute error —
//             heavier tailed than a Gaussian, so noisy real sensors do not fire on every outlier;
// - cusum:    Page's two-sided CUSUM (Page 1954) of standardized residuals for level shifts and
//             drifts, its run length under normal behaviour from Siegmund's approximation;
// - variance: the likelihood ratio of a short-window variance against the learned one;
// - stuck:    a run of identical values in a series that rarely repeats a value.
// Each detector's surprise is then calibrated against its own history on this series (see
// scoreReading), an anomaly is reported at its onset rather than at every reading it lasts, and
// the score is a monotone map of the largest surprise to [0, 1]: surprise / (surprise + 10 nats).
import { ErrorCode, fail } from '../../../lib/errors.ts';

/** Tuning of one metric's detectors (per metric or per twin kind). */
export interface DetectorSettings {
  /** 0 (fires only on gross anomalies) … 1 (eager). @default 0.5 */
  sensitivity?: number;
}

/** A series' detector state: plain JSON (stored as jsonb per series), bounded in size (< 16 KB). */
export type DetectorState = {
  /** Layout version of this state. */
  v: 1;
  /** Readings learned from. */
  n: number;
  /** Time (ms) of the first reading. */
  since: number;
  /** Time (ms) and value of the last reading. */
  at: number;
  last: number;
  /** Moving level (exponentially weighted mean). */
  level: number;
  /** Mean absolute deviation from the moving level: the series' own variability. */
  dev: number;
  /** Slow level (time-weighted over days) that the seasonal profiles are offsets from. */
  slow: number;
  /** Per forecaster (FORECASTERS order): running mean absolute error and how many errors it holds. */
  err: number[];
  errN: number[];
  /** Per forecaster: a slower running mean absolute error, which chooses the baseline. */
  fit: number[];
  /** Seasonal offsets from the slow level by quarter hour of the day / hour of the week (UTC), and visits per bin. */
  day: number[];
  dayN: number[];
  week: number[];
  weekN: number[];
  /** CUSUM statistics, upward and downward. */
  up: number;
  down: number;
  /** Short-window mean of squared standardized residuals, and its long-run mean. */
  shortVar: number;
  longVar: number;
  /** Identical consecutive values: the current run and how often a value repeats. */
  run: number;
  repeat: number;
  /** Per detector (DETECTORS order), an exponentially decayed histogram of its past surprises (log-spaced bins, see `surpriseBin`). */
  tails: number[][];
  /** The weight of the next count in the histograms, and the weight of all counts so far. */
  tailWeight: number;
  tailTotal: number;
  /** The largest recent surprise, fading: a reading reports only what it adds to it. */
  recent: number;
};

/** What one reading scored and why (an alarm's explanation). */
export interface AnomalyScore {
  /** In [0, 1]. */
  score: number;
  /** Which detector gave the score, e.g. 'level', 'seasonal', 'cusum', 'variance', 'stuck'. */
  detector: string;
  /** The expected value the reading was compared with, when there is one. */
  baseline: number | null;
  /** The normal spread around it, when there is one. */
  spread: number | null;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** Quarter hours of the day, hours of the week: fine enough for the steps of shift and office patterns. */
const DAY_BINS = 96;
const WEEK_BINS = 168;
/** Readings that only teach: too few to know what is normal. */
const WARMUP = 24;
/** Errors a forecaster must have made before it can be chosen as the baseline. */
const MIN_ERRORS = 24;
/** Smoothing of the moving level, of the forecasters' errors, of how often values repeat. */
const LEVEL_RATE = 0.05;
const ERROR_RATE = 0.02;
const REPEAT_RATE = 0.01;
/** Choosing the baseline by a slower error keeps an anomaly from switching to a forecaster that explains it away. */
const FIT_RATE = 0.005;
/** The slow level's time constant: long enough to average a daily cycle out. */
const SLOW_MS = 2 * DAY;
/**
 * A seasonal index learns at least this fast, so a profile follows slow changes of the cycle; no
 * faster, as it averages about its last 20 visits: a noisier profile is an error CUSUM would sum.
 */
const SEASON_RATE = 0.05;
/** A seasonal forecaster must beat the plain ones by this factor to be chosen (parsimony). */
const SEASON_PARSIMONY = 1.1;
/** Residuals are clipped at this many scales when learning, so one outlier does not teach much (Huber). */
const CLIP = 3;
/** CUSUM reference value in standard deviations: the optimal one for a shift of 1σ. */
const CUSUM_K = 0.5;
/**
 * Smoothing of the short and long variance windows; squared residuals are clipped at CLIP². The
 * long window spans about a day of 5-minute readings, so it holds a daily cycle's quiet and busy
 * hours alike rather than following them (a shorter one learned a rise in variance as it came).
 */
const SHORT_RATE = 0.1;
const LONG_RATE = 1 / 288;
/** Mean absolute error → standard deviation of a Gaussian, √(π/2). */
const MAE_TO_SD = Math.sqrt(Math.PI / 2);
/** Surprise histogram: bins per doubling of 1 + nats, how many, how slowly it forgets (readings). */
const TAIL_BINS_PER_OCTAVE = 3;
const TAIL_BINS = 48;
const MAX_NATS = 2 ** (TAIL_BINS / TAIL_BINS_PER_OCTAVE) - 1;
const TAIL_MEMORY = 4000;
/** The tail of the series' own surprises that calibrates the detectors: the top 1/1000. */
const TAIL_FRACTION = 1e-3;
/** How the recent surprise fades per reading: halves in about 50 readings. */
const RECENT_FADE = 0.986;
/** Surprise (nats) that maps to a score of 0.5. */
const HALF_SCORE_NATS = 10;

/** The detector families, each calibrated on its own (the first reports as 'level' or 'seasonal'). */
const DETECTORS = ['level', 'cusum', 'variance', 'stuck'] as const;
/** The forecasters, in the order of `err`; seasonal ones report as 'seasonal'. */
const FORECASTERS = ['last', 'level', 'daily', 'weekly'] as const;

/** A fresh state: nothing learned yet. */
export function newDetectorState(): DetectorState {
  return {
    v: 1,
    n: 0,
    since: 0,
    at: 0,
    last: 0,
    level: 0,
    slow: 0,
    dev: 0,
    err: FORECASTERS.map(() => 0),
    errN: FORECASTERS.map(() => 0),
    fit: FORECASTERS.map(() => 0),
    day: new Array<number>(DAY_BINS).fill(0),
    dayN: new Array<number>(DAY_BINS).fill(0),
    week: new Array<number>(WEEK_BINS).fill(0),
    weekN: new Array<number>(WEEK_BINS).fill(0),
    up: 0,
    down: 0,
    shortVar: 1,
    longVar: 1,
    run: 0,
    repeat: 0.5,
    tails: DETECTORS.map(() => new Array<number>(TAIL_BINS).fill(0)),
    tailWeight: 1,
    tailTotal: 0,
    recent: 0,
  };
}

/** Score at or above which a reading counts as anomalous (raises an alarm) under these settings. */
export function anomalyThreshold(settings?: DetectorSettings): number {
  return toScore(fireNats(settings));
}

/** The surprise (nats) at which a reading counts as anomalous: 16 at sensitivity 0, 8 at ½, 4 at 1. */
function fireNats(settings?: DetectorSettings): number {
  const sensitivity = settings?.sensitivity ?? 0.5;
  if (!(sensitivity >= 0 && sensitivity <= 1)) throw fail(ErrorCode.INVALID_INPUT, 'sensitivity: expected a number from 0 to 1', { field: 'sensitivity' });
  return 16 / 2 ** (2 * sensitivity);
}

function toScore(nats: number): number {
  return nats / (nats + HALF_SCORE_NATS);
}

/** A seasonal profile's offset at a time, once its bin has been seen often enough to mean something. */
function seasonal(offsets: number[], visits: number[], at: number, period: number): number | null {
  const bin = binOf(offsets.length, at, period);
  return visits[bin]! < 2 ? null : offsets[bin]!;
}

function binOf(bins: number, at: number, period: number): number {
  return Math.floor((((at % period) + period) % period) / (period / bins));
}

function learnSeason(offsets: number[], visits: number[], at: number, period: number, offset: number): void {
  const bin = binOf(offsets.length, at, period);
  visits[bin]! += 1;
  offsets[bin]! += Math.max(SEASON_RATE, 1 / visits[bin]!) * (offset - offsets[bin]!);
}

/** Exponential smoothing that starts as a plain mean, so early readings are not drowned by the initial value. */
function smooth(previous: number, value: number, rate: number, count: number): number {
  return previous + Math.max(rate, 1 / count) * (value - previous);
}

/**
 * Scores a reading (time in ms since epoch, in increasing time order) having seen only the readings
 * before it, then learns from it. Mutates `state`. Deterministic: same history → same scores.
 * A reading out of order (real clocks step back) is scored and learned as if it came with the last one.
 * An anomaly scores high at its onset; readings while it lasts report only what they add to it
 * (the detectors take a reported change as the new normal). The settings take part in that, so
 * a series is scored with the same settings throughout; a change applies from then on.
 */
export function scoreReading(state: DetectorState, at: number, value: number, settings?: DetectorSettings): AnomalyScore {
  if (!Number.isFinite(at) || !Number.isFinite(value)) throw fail(ErrorCode.INVALID_INPUT, 'reading: time and value must be finite numbers');
  // −0 would come back from JSON as 0: the state holds +0 only.
  value += 0;
  const fire = fireNats(settings);

  const forecasts: (number | null)[] = [
    state.n > 0 ? state.last : null,
    state.n > 0 ? state.level : null,
    forecastSeason(state.slow, seasonal(state.day, state.dayN, at, DAY)),
    // Within the first week an hour-of-week bin knows only the readings earlier in the same hour:
    // a lagging mean that would pass for a good forecaster until the week turns and the profile
    // forecasts from a week ago for the first time — a switch that fired falsely on 5-minute
    // series. (A quarter-hour bin's first-day readings are minutes apart: a fair local forecast.)
    state.n > 0 && at - state.since >= WEEK ? forecastSeason(state.slow, seasonal(state.week, state.weekN, at, WEEK)) : null,
  ];
  const chosen = bestForecaster(state, forecasts);
  // CUSUM accumulates residuals of a forecaster that does not follow the series step by step: a
  // shift is a lasting run of residuals against a level, only one jump against the last value.
  const smoothChosen = bestForecaster(state, forecasts, 1);

  // The detectors assume independent, Laplace-like residuals; real series break that (steps,
  // bursts, heavy tails, autocorrelation). As the anomaly likelihood of Ahmad et al. (2017,
  // "Unsupervised real-time anomaly detection for streaming data") judges a raw score against the
  // series' own recent scores, each detector's surprise is discounted by how far the top 1/1000 of
  // its own past surprises lies beyond the ln 1000 nats a calibrated model would give them.
  const raw = [0, 0, 0, 0];
  const explain: Omit<AnomalyScore, 'score'>[] = DETECTORS.map((detector) => ({ detector, baseline: null, spread: null }));
  if (chosen !== null && smoothChosen !== null) {
    const baseline = forecasts[chosen]!;
    const scale = scaleOf(state, chosen);
    const spread = scale * MAE_TO_SD;
    raw[0] = Math.abs(value - baseline) / scale;
    explain[0] = { detector: chosen >= 2 ? 'seasonal' : 'level', baseline, spread };

    const smoothBaseline = forecasts[smoothChosen]!;
    const smoothSpread = scaleOf(state, smoothChosen) * MAE_TO_SD;
    const standardized = clip((value - smoothBaseline) / smoothSpread, CLIP);
    state.up = Math.max(0, state.up + standardized - CUSUM_K);
    state.down = Math.max(0, state.down - standardized - CUSUM_K);
    // Siegmund: in-control average run length of a CUSUM with k = ½ is ≈ 2·e^(h + 1.166).
    raw[1] = Math.max(state.up, state.down) + 1.166 + Math.LN2;
    explain[1] = { detector: 'cusum', baseline: smoothBaseline, spread: smoothSpread };

    const squared = Math.min(((value - baseline) / spread) ** 2, CLIP * CLIP);
    state.shortVar += SHORT_RATE * (squared - state.shortVar);
    const ratio = state.shortVar / state.longVar;
    // Likelihood ratio of variances over the short window's effective sample size (2 − α)/α.
    if (ratio > 1) raw[2] = ((2 - SHORT_RATE) / SHORT_RATE / 2) * (ratio - 1 - Math.log(ratio));
    explain[2] = { detector: 'variance', baseline, spread };
    state.longVar += LONG_RATE * (squared - state.longVar);
  }
  const repeated = state.n > 0 && value === state.last;
  state.run = repeated ? state.run + 1 : 0;
  raw[3] = -state.run * Math.log(Math.max(state.repeat, 0.01));
  explain[3] = { detector: 'stuck', baseline: state.last, spread: null };

  let calibrated = 0;
  let cause = 0;
  raw.forEach((unbounded, detector) => {
    // Beyond the histogram's range every surprise is equally certain news; bounding it also
    // keeps extreme inputs from reaching infinities (and JSON nulls) in the state.
    const nats = Number.isNaN(unbounded) ? 0 : Math.min(unbounded, MAX_NATS);
    const tail = state.tails[detector]!;
    const discounted = nats - Math.max(0, tailQuantile(tail, state.tailTotal) + Math.log(TAIL_FRACTION));
    if (discounted > calibrated) {
      calibrated = discounted;
      cause = detector;
    }
    tail[surpriseBin(nats)]! += state.tailWeight;
  });
  learnTailWeight(state);
  const result: AnomalyScore = { score: 0, ...explain[cause]! };

  // An anomaly is news once: while it lasts, each reading reports only what it adds to the
  // surprise that fired last, so an operator sees its onset, not a flood of repeats.
  const faded = state.recent * RECENT_FADE;
  const surprise = Math.max(0, calibrated - faded);
  state.recent = surprise >= fire ? calibrated : faded;

  if (state.n >= WARMUP) result.score = toScore(surprise);
  if (surprise >= fire && (cause === 1 || cause === 2)) {
    // A change is reported once; afterwards it is the new normal the statistics start from.
    state.up = 0;
    state.down = 0;
    state.shortVar = state.longVar;
  }
  learn(state, at, value, forecasts, repeated);
  return result;
}

/** The log-spaced bin of a surprise: bin i holds [2^(i/3) − 1, 2^((i+1)/3) − 1) nats. */
function surpriseBin(nats: number): number {
  return Math.min(TAIL_BINS - 1, Math.floor(TAIL_BINS_PER_OCTAVE * Math.log2(1 + nats)));
}

/**
 * The histograms forget with a time constant of TAIL_MEMORY readings. Rather than scaling every
 * bin down at each reading, new counts weigh ever more; all are rescaled now and then.
 */
function learnTailWeight(state: DetectorState): void {
  state.tailTotal += state.tailWeight;
  state.tailWeight /= 1 - 1 / TAIL_MEMORY;
  if (state.tailWeight > 1e100) {
    for (const tail of state.tails) for (let bin = 0; bin < tail.length; bin += 1) tail[bin]! /= state.tailWeight;
    state.tailTotal /= state.tailWeight;
    state.tailWeight = 1;
  }
}

/**
 * Where the top TAIL_FRACTION of past surprises begins (while few are known: the largest seen).
 * The upper edge of its bin, so that a surprise as large as the series' usual extremes is
 * discounted to at most ln 1000 nats.
 */
function tailQuantile(tail: number[], total: number): number {
  const wanted = TAIL_FRACTION * total;
  let above = 0;
  for (let bin = tail.length - 1; bin >= 0; bin -= 1) {
    above += tail[bin]!;
    if (above >= wanted && above > 0) return 2 ** ((bin + 1) / TAIL_BINS_PER_OCTAVE) - 1;
  }
  return 0;
}

function forecastSeason(slow: number, offset: number | null): number | null {
  return offset === null ? null : slow + offset;
}

function clip(value: number, limit: number): number {
  return Math.min(Math.max(value, -limit), limit);
}

/**
 * A forecaster's error scale. Never below a hundredth of the series' variability: a series that
 * is mostly flat (idle counters, steps) would otherwise make any change infinitely surprising.
 */
function scaleOf(state: DetectorState, index: number): number {
  return Math.max(state.err[index]!, 1e-2 * state.dev, 1e-9 * Math.max(1, Math.abs(state.level)));
}

/** The forecaster with the smallest running error among those with enough errors, from `first` on. */
function bestForecaster(state: DetectorState, forecasts: (number | null)[], first = 0): number | null {
  let best: number | null = null;
  let bestError = Number.POSITIVE_INFINITY;
  for (let index = first; index < forecasts.length; index += 1) {
    if (forecasts[index] === null || state.errN[index]! < MIN_ERRORS) continue;
    const error = state.fit[index]! * (index >= 2 ? SEASON_PARSIMONY : 1);
    if (error < bestError) {
      best = index;
      bestError = error;
    }
  }
  return best;
}

function learn(state: DetectorState, at: number, value: number, forecasts: (number | null)[], repeated: boolean): void {
  const first = state.n === 0;
  state.n += 1;
  // What each forecaster learns: the value, pulled to within CLIP of its own scales of its
  // forecast, so one outlier teaches little (Huber's M-estimation).
  const targets = forecasts.map((forecast, index) => {
    if (forecast === null) return value;
    state.errN[index]! += 1;
    const error = Math.abs(value - forecast);
    const limit = state.errN[index]! > MIN_ERRORS ? CLIP * scaleOf(state, index) : Number.POSITIVE_INFINITY;
    state.err[index] = smooth(state.err[index]!, Math.min(error, limit), ERROR_RATE, state.errN[index]!);
    state.fit[index] = smooth(state.fit[index]!, Math.min(error, limit), FIT_RATE, state.errN[index]!);
    return forecast + clip(value - forecast, limit);
  });
  if (first) {
    state.since = at;
    state.level = value;
    state.slow = value;
  } else {
    state.repeat = smooth(state.repeat, repeated ? 1 : 0, REPEAT_RATE, state.n - 1);
    state.dev = smooth(state.dev, Math.abs(value - state.level), FIT_RATE, state.n - 1);
    state.level = smooth(state.level, targets[1]!, LEVEL_RATE, state.n);
    state.slow += (1 - Math.exp(-Math.max(0, at - state.at) / SLOW_MS)) * (targets[1]! - state.slow);
  }
  learnSeason(state.day, state.dayN, at, DAY, targets[2]! - state.slow);
  learnSeason(state.week, state.weekN, at, WEEK, targets[3]! - state.slow);
  state.at = Math.max(state.at, at);
  state.last = value;
}
