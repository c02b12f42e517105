/**
 * Streaming anomaly detection of one series (twin + metric): a robust z-score against an
 * exponentially weighted mean and variance (Roberts 1959, EWMA control charts; Hunter 1986).
 * A reading far from the baseline is winsorized before it updates it (Huber's clipping), so
 * a spike does not drag the baseline along. The state is plain JSON: it is kept in the store.
 */

/** How eagerly a series is flagged. */
export interface DetectorSettings {
  /** 0 (only gross outliers) … 1 (the slightest deviation). @default 0.5 */
  sensitivity?: number;
}

/** A series' detector state, as stored between readings. */
export type DetectorState = {
  /** Readings seen. */
  n: number;
  mean: number;
  variance: number;
};

/** What the detector says of one reading. */
export interface AnomalyScore {
  /** 0 (normal) … 1 (certainly anomalous). */
  score: number;
  /** Which detector scored it. */
  detector: string;
  /** The expected value, once learnt. */
  baseline: number | null;
  /** The expected spread (standard deviation), once learnt. */
  spread: number | null;
}

const DETECTOR = 'ewma-z';
/** Weight of a new reading: a memory of about 1/α = 50 readings. */
const ALPHA = 0.02;
/** Readings before any score: the baseline is not known yet. */
const WARM_UP = 20;
/** Deviations beyond this many spreads update the baseline as if they were this far. */
const CLIP = 3;
/** The z at which the score is 0.5. */
const HALF_Z = 4;
/** Floor of the spread relative to the level, so a perfectly flat series does not make every wiggle infinite. */
const RELATIVE_FLOOR = 1e-6;

/** A detector that has seen nothing. */
export function newDetectorState(): DetectorState {
  return { n: 0, mean: 0, variance: 0 };
}

/** Scores a reading with what came before it, then learns from it (mutates `state`). `at` is its time in ms. */
export function scoreReading(state: DetectorState, _at: number, value: number, _settings?: DetectorSettings): AnomalyScore {
  if (state.n === 0) {
    state.n = 1;
    state.mean = value;
    return { score: 0, detector: DETECTOR, baseline: null, spread: null };
  }
  const spread = Math.max(Math.sqrt(state.variance), RELATIVE_FLOOR * Math.max(1, Math.abs(state.mean)));
  const z = Math.abs(value - state.mean) / spread;
  const learnt = state.n >= WARM_UP;
  const result: AnomalyScore = {
    score: learnt ? (z * z) / (z * z + HALF_Z * HALF_Z) : 0,
    detector: DETECTOR,
    baseline: learnt ? state.mean : null,
    spread: learnt ? spread : null,
  };
  // During warm-up every reading counts fully (Welford-like start), afterwards clipped.
  const clipped = learnt ? state.mean + Math.max(-CLIP * spread, Math.min(CLIP * spread, value - state.mean)) : value;
  const alpha = Math.max(ALPHA, 1 / (state.n + 1));
  const delta = clipped - state.mean;
  state.mean += alpha * delta;
  state.variance = (1 - alpha) * (state.variance + alpha * delta * delta);
  state.n++;
  return result;
}

/** The score at or above which a reading is anomalous: 0.8 at sensitivity 0 … 0.4 at 1 (0.6, z ≈ 4.9, by default). */
export function anomalyThreshold(settings?: DetectorSettings): number {
  const sensitivity = Math.min(1, Math.max(0, settings?.sensitivity ?? 0.5));
  return 0.8 - 0.4 * sensitivity;
}
