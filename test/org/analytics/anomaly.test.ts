import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TwinxError } from '../../../lib/errors.ts';
import { anomalyThreshold, type DetectorSettings, newDetectorState, scoreReading } from '../../../subgraphs/org/analytics/anomaly.ts';

const MINUTE = 60_000;
const START = Date.UTC(2026, 0, 5);
/** Readings every 5 minutes: 288 a day. */
const STEP = 5 * MINUTE;
const DAY = 288;
/** Where the anomalies start: after a week of normal behaviour. */
const ONSET = 7 * DAY;

/** A seeded generator (mulberry32), so every run sees the same series. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A noisy sensor with a daily cycle: 50 ± 10 over the day, Gaussian noise of σ = 1. */
function normalSeries(length: number, seed = 1): number[] {
  const uniform = random(seed);
  return Array.from({ length }, (_, i) => {
    const noise = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    return 50 + 10 * Math.sin((2 * Math.PI * i) / DAY) + noise;
  });
}

function scores(values: number[], settings?: DetectorSettings, times = values.map((_, i) => START + i * STEP)) {
  const state = newDetectorState();
  return values.map((value, i) => scoreReading(state, times[i]!, value, settings));
}

/** Readings from `from` on that score at or above the threshold. */
function detections(values: number[], settings?: DetectorSettings, from = 0) {
  const threshold = anomalyThreshold(settings);
  return scores(values, settings)
    .map((result, i) => ({ ...result, i }))
    .filter((result) => result.i >= from && result.score >= threshold);
}

/** How many readings after ONSET the first detection comes; it must not come before. */
function lag(values: number[], settings?: DetectorSettings) {
  const found = detections(values, settings, ONSET - DAY);
  expect(found[0]?.i, 'no detection in the normal day before the onset').toBeGreaterThanOrEqual(ONSET);
  return { lag: found[0]!.i - ONSET, detector: found[0]!.detector };
}

describe('anomaly detectors', () => {
  it('stay quiet on two weeks of a noisy daily cycle', () => {
    const series = normalSeries(14 * DAY);
    const all = scores(series);
    expect(all.every((result) => result.score >= 0 && result.score <= 1)).toBe(true);
    // The first day teaches the daily pattern; after it, at most a handful of readings out of 3700.
    expect(detections(series, undefined, DAY).length).toBeLessThanOrEqual(3);
  });

  it('stay quiet when the first week turns on a shift pattern', () => {
    // On 9:00–17:00, off otherwise, with noise: the weekly profile comes into use at the week's turn
    // and must not take its first forecasts from a week ago for news.
    for (const seed of [1, 2, 3]) {
      const uniform = random(seed);
      const series = Array.from({ length: 8 * DAY }, (_, i) => {
        const hour = (i % DAY) / 12;
        const noise = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
        return (hour >= 9 && hour < 17 ? 80 : 20) + noise;
      });
      expect(detections(series, undefined, ONSET).filter((result) => result.i < ONSET + DAY / 2)).toEqual([]);
    }
  });

  it('score nothing while warming up, however wild the readings', () => {
    const wild = [1, 1e6, -1e6, 0, 42, 7e5, -3, 1e-9, 5e5, 2];
    expect(scores(wild).map((result) => result.score)).toEqual(wild.map(() => 0));
  });

  it('detect a spike at once, and explain it', () => {
    const series = normalSeries(8 * DAY);
    series[ONSET] = series[ONSET]! + 15;
    const found = lag(series);
    expect(found.lag).toBe(0);
    const explained = scores(series)[ONSET]!;
    expect(['level', 'seasonal']).toContain(explained.detector);
    expect(explained.baseline).toBeCloseTo(series[ONSET]! - 15, -1);
    expect(explained.spread).toBeGreaterThan(0);
  });

  it('detect a level shift within a few readings', () => {
    const series = normalSeries(8 * DAY).map((value, i) => (i >= ONSET ? value + 5 : value));
    expect(lag(series).lag).toBeLessThanOrEqual(6);
  });

  it('detect a slow drift', () => {
    // 0.02 σ per reading: two standard deviations in 100 readings, well within the daily swing.
    const series = normalSeries(8 * DAY).map((value, i) => (i >= ONSET ? value + 0.02 * (i - ONSET) : value));
    expect(lag(series).lag).toBeLessThanOrEqual(120);
  });

  it('detect a rise in variance', () => {
    const calm = normalSeries(8 * DAY);
    const series = calm.map((value, i) => (i >= ONSET ? value + 3 * (value - (50 + 10 * Math.sin((2 * Math.PI * i) / DAY))) : value));
    expect(lag(series).lag).toBeLessThanOrEqual(30);
  });

  it('detect a stuck sensor: a flat line where the signal was noisy', () => {
    const series = normalSeries(8 * DAY).map((value, i, all) => (i >= ONSET ? all[ONSET - 1]! : value));
    expect(lag(series)).toEqual({ lag: expect.any(Number), detector: 'stuck' });
    expect(lag(series).lag).toBeLessThanOrEqual(4);
  });

  it('work on irregular sampling with gaps', () => {
    const uniform = random(7);
    const times: number[] = [];
    for (let at = START; times.length < 8 * DAY; at += STEP * (0.2 + 1.6 * uniform())) times.push(at + (times.length === 4 * DAY ? 6 * 3_600_000 : 0));
    const series = normalSeries(times.length, 3);
    series[ONSET] = series[ONSET]! + 15;
    const found = scores(series, undefined, times);
    const threshold = anomalyThreshold();
    expect(found[ONSET]!.score).toBeGreaterThanOrEqual(threshold);
    expect(found.filter((result, i) => i >= DAY && i !== ONSET && result.score >= threshold).length).toBeLessThanOrEqual(3);
  });

  it('give the same scores after a JSON round trip of the state at any point', () => {
    const series = normalSeries(3 * DAY).map((value, i) => (i === 2 * DAY ? value + 20 : i > 2 * DAY + 50 ? value + 4 : value));
    const times = series.map((_, i) => START + i * STEP);
    const straight = scores(series);
    for (const cut of [1, 30, DAY + 17, 2 * DAY + 1]) {
      let state = newDetectorState();
      const resumed = series.map((value, i) => {
        if (i === cut) state = JSON.parse(JSON.stringify(state));
        return scoreReading(state, times[i]!, value);
      });
      expect(resumed).toEqual(straight);
    }
  });

  it('keep the state small', () => {
    const state = newDetectorState();
    normalSeries(30 * DAY).forEach((value, i) => scoreReading(state, START + i * STEP, value));
    expect(JSON.stringify(state).length).toBeLessThan(16 * 1024);
  });

  it('fire more, and sooner, as sensitivity rises', () => {
    const series = normalSeries(8 * DAY).map((value, i) => (i >= ONSET ? value + 2.5 : value));
    const levels = [0, 0.25, 0.5, 0.75, 1];
    const thresholds = levels.map((sensitivity) => anomalyThreshold({ sensitivity }));
    expect(thresholds).toEqual([...thresholds].sort((a, b) => b - a));
    const lags = levels.map((sensitivity) => detections(series, { sensitivity }, ONSET)[0]?.i ?? Number.POSITIVE_INFINITY);
    expect(lags).toEqual([...lags].sort((a, b) => b - a));
    expect(lags[4]).toBeLessThan(lags[0]!);
    const quiet = normalSeries(8 * DAY, 9);
    const counts = levels.map((sensitivity) => detections(quiet, { sensitivity }, DAY).length);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
  });

  it('refuse what is not a reading or a sensitivity, with a stable code', () => {
    const code = (action: () => unknown) => {
      try {
        action();
      } catch (error) {
        return error instanceof TwinxError ? error.code : 'other';
      }
      return 'none';
    };
    expect(code(() => scoreReading(newDetectorState(), START, Number.NaN))).toBe(ErrorCode.INVALID_INPUT);
    expect(code(() => scoreReading(newDetectorState(), Number.POSITIVE_INFINITY, 1))).toBe(ErrorCode.INVALID_INPUT);
    expect(code(() => anomalyThreshold({ sensitivity: 1.5 }))).toBe(ErrorCode.INVALID_INPUT);
    expect(code(() => scoreReading(newDetectorState(), START, 1, { sensitivity: -0.1 }))).toBe(ErrorCode.INVALID_INPUT);
  });
});

describe('anomaly detectors on arbitrary input', () => {
  it('always score in [0, 1] and keep a state that survives JSON', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 10 * 86_400_000 }),
            fc.oneof(fc.double({ min: -1e12, max: 1e12, noNaN: true }), fc.constantFrom(0, 1e300, -1e300)),
          ),
          { minLength: 30, maxLength: 200 },
        ),
        (readings) => {
          const state = newDetectorState();
          let at = START;
          for (const [step, value] of readings) {
            at += step;
            const { score } = scoreReading(state, at, value);
            expect(score >= 0 && score <= 1).toBe(true);
          }
          expect(JSON.parse(JSON.stringify(state))).toEqual(state);
        },
      ),
      // A long flat line, then a value a flat line's zero spread cannot measure.
      { numRuns: 100, examples: [[[...new Array<[number, number]>(100).fill([STEP, 0]), [STEP, 1e300]]]] },
    );
  });
});
