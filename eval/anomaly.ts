// Anomaly quality on the Numenta Anomaly Benchmark files in ../shared/data/nab, through the
// `twinx analytics replay` command, scored as NAB scores (numenta/NAB nab/sweeper.py,
// nab/optimizer.py, nab/runner.py normalize; config/profiles.json "standard").
//   npm run eval:anomaly
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { anomalyThreshold, newDetectorState, scoreReading } from '../subgraphs/org/analytics/anomaly.ts';

const run = promisify(execFile);
const NAB = new URL('../../shared/data/nab/', import.meta.url);
const TWINX = new URL('../bin/twinx.mjs', import.meta.url).pathname;
/** NAB's standard profile. */
const COST = { tp: 1, fp: 0.11, fn: 1 };
const PROBATION = 0.15;

/** One scored row: its anomaly score, what detecting it is worth, and the window it lies in. */
interface Row {
  score: number;
  sweep: number;
  window: string | null;
}

/** NAB's scaled sigmoid of a position relative to a window's right edge (−1 left edge, 0 right edge, > 0 after it). */
function scaledSigmoid(position: number): number {
  return position > 3 ? -1 : 2 / (1 + Math.exp(5 * position)) - 1;
}

/** NAB's calcSweepScore: the worth of a detection at each row of one file; probationary rows are left out. */
function sweepRows(name: string, times: number[], scores: number[], windows: [number, number][]): Row[] {
  const maxTp = scaledSigmoid(-1);
  const probation = Math.min(Math.floor(PROBATION * times.length), PROBATION * 5000);
  const index = new Map(times.map((time, i) => [time, i]));
  const pending = [...windows];
  const rows: Row[] = [];
  let current: { name: string; right: number; width: number } | null = null;
  let previous: { right: number; width: number } | null = null;
  for (let i = 0; i < times.length; i += 1) {
    const time = times[i]!;
    if (pending.length > 0 && time === pending[0]![0]) {
      const [left, right] = pending.shift()!;
      const rightIndex = index.get(right)!;
      current = { name: `${name}|${left}`, right: rightIndex, width: rightIndex - index.get(left)! + 1 };
    }
    const sweep = current
      ? (scaledSigmoid(-(current.right - i + 1) / current.width) * COST.tp) / maxTp
      : (previous ? scaledSigmoid(Math.abs(previous.right - i) / (previous.width - 1)) : -1) * COST.fp;
    if (i >= probation) rows.push({ score: scores[i]!, sweep, window: current?.name ?? null });
    if (current && i === current.right) {
      previous = current;
      current = null;
    }
  }
  return rows;
}

/** NAB's score at one threshold: the best detection per window (or a miss), plus every false positive. */
function scoreAt(rows: Row[], threshold: number): number {
  const windows = new Map<string, number>();
  let falsePositives = 0;
  for (const row of rows) {
    if (row.window === null) {
      if (row.score >= threshold) falsePositives += row.sweep;
    } else {
      const best = windows.get(row.window) ?? -COST.fn;
      windows.set(row.window, row.score >= threshold ? Math.max(best, row.sweep) : best);
    }
  }
  return [...windows.values()].reduce((sum, value) => sum + value, falsePositives);
}

/** NAB's optimizer: the threshold (one of the scores seen) with the best score over all rows of the corpus. */
function optimize(rows: Row[]): { threshold: number; score: number } {
  const sorted = [...rows].sort((a, b) => b.score - a.score);
  const windows = new Map<string, number>();
  for (const row of sorted) if (row.window !== null) windows.set(row.window, -COST.fn);
  let total = [...windows.values()].reduce((sum, value) => sum + value, 0);
  let best = { threshold: 1.1, score: total };
  for (let i = 0; i < sorted.length; i += 1) {
    const row = sorted[i]!;
    if (row.window === null) {
      total += row.sweep;
    } else {
      const before = windows.get(row.window)!;
      if (row.sweep > before) {
        windows.set(row.window, row.sweep);
        total += row.sweep - before;
      }
    }
    // A threshold detects every row at or above it: rows of equal score are counted together.
    if ((sorted[i + 1]?.score ?? Number.NEGATIVE_INFINITY) !== row.score && total > best.score) best = { threshold: row.score, score: total };
  }
  return best;
}

/** Timestamps as NAB writes them ("2014-04-10 07:15:00.000000") and as data files do, in UTC. */
const utc = (stamp: string) => Date.parse(`${stamp.trim().replace(' ', 'T')}Z`);

const labels = JSON.parse(readFileSync(new URL('windows.json', NAB), 'utf8')) as Record<string, [string, string][]>;
const files = Object.keys(labels).sort();
const fixed = anomalyThreshold();

async function replay(file: string) {
  const started = performance.now();
  const { stdout } = await run(process.execPath, [TWINX, 'analytics', 'replay', new URL(file, NAB).pathname], { maxBuffer: 1 << 30 });
  const lines = stdout.trim().split('\n').slice(1);
  const times = lines.map((line) => utc(line.split(',')[0]!));
  const values = lines.map((line) => Number(line.split(',')[1]));
  const scores = lines.map((line) => Number(line.split(',')[2]));
  const windows = labels[file]!.map(([left, right]) => [utc(left), utc(right)] as [number, number]);
  return { file, times, values, rows: sweepRows(file, times, scores, windows), windows: windows.length, ms: performance.now() - started };
}

/** Detections at a threshold: windows with one, and rows with one outside every window. */
function counts(rows: Row[], threshold: number) {
  const hit = new Set(rows.filter((row) => row.window !== null && row.score >= threshold).map((row) => row.window));
  return { hit: hit.size, falsePositives: rows.filter((row) => row.window === null && row.score >= threshold).length };
}

// Two files at a time: one per core of a small machine.
const results: Awaited<ReturnType<typeof replay>>[] = [];
for (let i = 0; i < files.length; i += 2) results.push(...(await Promise.all(files.slice(i, i + 2).map(replay))));
const unlisted = readdirSync(NAB, { recursive: true }).filter((path) => String(path).endsWith('.csv') && !(String(path) in labels));
if (unlisted.length > 0) console.warn(`not in windows.json, not scored: ${unlisted.join(', ')}`);

const all = results.flatMap((result) => result.rows);
const perfect = results.reduce((sum, result) => sum + result.windows, 0) * COST.tp;
// NAB's baseline is the null detector, which never fires: every window a miss.
const baseline = scoreAt(all, Number.POSITIVE_INFINITY);
const normalize = (raw: number) => (100 * (raw - baseline)) / (perfect - baseline);
const optimized = optimize(all);

const perFileNormalized = (rows: Row[], windows: number, threshold: number) => {
  const base = scoreAt(rows, Number.POSITIVE_INFINITY);
  return windows === 0 ? '-' : ((100 * (scoreAt(rows, threshold) - base)) / (windows * COST.tp - base)).toFixed(1);
};
console.log(['file', 'rows', 'windows', 'hit', 'fp', 'raw@best', 'raw@fixed', 'norm@best', 'norm@fixed', 'ms'].join('\t'));
for (const { file, times, rows, windows, ms } of results) {
  const { hit, falsePositives } = counts(rows, fixed);
  const raws = [optimized.threshold, fixed].map((threshold) => scoreAt(rows, threshold).toFixed(3));
  const norms = [optimized.threshold, fixed].map((threshold) => perFileNormalized(rows, windows, threshold));
  console.log([file, times.length, windows, hit, falsePositives, ...raws, ...norms, ms.toFixed(0)].join('\t'));
}
console.log('(hit: windows detected, fp: detections outside windows, both at the fixed threshold, after the probationary period)');
console.log(`\nNAB standard profile, ${files.length} files, ${perfect} windows`);
console.log(`optimized threshold ${optimized.threshold}: score ${normalize(optimized.score).toFixed(1)}`);
console.log(`fixed threshold ${fixed} (anomalyThreshold()): score ${normalize(scoreAt(all, fixed)).toFixed(1)}`);

// The detectors' own cost, in process: what they add to each reading ingested.
let readings = 0;
const started = performance.now();
for (let round = 0; round < 3; round += 1) {
  for (const { times, values } of results) {
    const state = newDetectorState();
    for (let i = 0; i < times.length; i += 1) scoreReading(state, times[i]!, values[i]!);
    readings += times.length;
  }
}
console.log(`detector cost: ${((1000 * (performance.now() - started)) / readings).toFixed(2)} µs per reading (mean over ${readings} readings)`);
