// Quality of the remaining-useful-life model on NASA C-MAPSS FD001, through the CLI the way an
// operator backtests: `twinx analytics rul-backtest --train <file> --test <file>`.
//   npm run eval:rul [-- --folds 5 --seed 1 --cap 125]
//
// The official test split is held back for an independent check, so engines of train_FD001 are
// held out instead: the 100 engines are shuffled (seeded) into folds; each fold's engines are cut
// before failure and the others train the model. The cut mimics the official split (true RUL of
// its engines 7–145 cycles, every engine at least 31 cycles long): true RUL drawn uniformly from
// [5, min(150, length − 31)]. As is usual for C-MAPSS, RMSE compares with the true RUL capped at
// the model's cap (no model can see wear before it shows); so does the interval's coverage.
// PHM08 score (Saxena et al. 2008): Σ e^(−d/13) − 1 for early predictions, e^(d/10) − 1 for late
// ones, d = predicted − true; lower is better.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { readCmapss } from '../cli/analytics.ts';
import { mulberry32 } from '../subgraphs/org/analytics/boosting.ts';
import { type RulModel, estimateRul, newRulState, updateRulState } from '../subgraphs/org/analytics/rul.ts';

const { values: args } = parseArgs({
  options: { folds: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' }, cap: { type: 'string', default: '125' } },
});
const FOLDS = Number(args.folds);
const SEED = Number(args.seed);
const CAP = Number(args.cap);
if (!(Number.isInteger(FOLDS) && FOLDS >= 2)) throw new TypeError('--folds must be an integer ≥ 2');

const root = new URL('../', import.meta.url).pathname;
const source = join(root, '../shared/data/cmapss/train_FD001.txt');
const run = promisify(execFile);

const units = new Map<number, string[]>();
for (const line of (await readFile(source, 'utf8')).split('\n')) {
  if (line.trim() === '') continue;
  const unit = Number(line.trim().split(/\s+/)[0]);
  units.set(unit, [...(units.get(unit) ?? []), line]);
}
const random = mulberry32(SEED);
const order = [...units.keys()];
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}

interface FoldResult {
  rmse: number;
  phm08: number;
  coverage: number;
  width: number;
  engines: number;
  log: string;
}

const dir = await mkdtemp(join(tmpdir(), 'twinx-eval-rul-'));
const results: FoldResult[] = [];
try {
  console.log(`C-MAPSS FD001 (${source}), ${units.size} engines in ${FOLDS} folds, seed ${SEED}, cap ${CAP}`);
  for (let fold = 0; fold < FOLDS; fold++) {
    const held = new Set(order.filter((_, position) => position % FOLDS === fold));
    const truth = new Map<string, number>();
    const train: string[] = [];
    const test: string[] = [];
    for (const [unit, lines] of units) {
      if (!held.has(unit)) {
        train.push(...lines);
        continue;
      }
      const longest = Math.min(150, lines.length - 31);
      const rul = 5 + Math.floor(random() * (longest - 5 + 1));
      truth.set(String(unit), rul);
      test.push(...lines.slice(0, lines.length - rul));
    }
    const trainFile = join(dir, `train-${fold}.txt`);
    const testFile = join(dir, `test-${fold}.txt`);
    await writeFile(trainFile, `${train.join('\n')}\n`);
    await writeFile(testFile, `${test.join('\n')}\n`);
    const modelFile = join(dir, `model-${fold}.json`);
    const argv = [
      'bin/twinx.mjs',
      'analytics',
      'rul-backtest',
      '--train',
      trainFile,
      '--test',
      testFile,
      '--cap',
      String(CAP),
      '--seed',
      String(SEED),
      '--model',
      modelFile,
    ];
    console.log(`\nfold ${fold + 1}: node ${argv.join(' ')}`);
    const { stdout, stderr } = await run(process.execPath, argv, { cwd: root, maxBuffer: 1 << 24 });
    results.push(score(stdout, truth, stderr.trim()));
    const r = results[results.length - 1]!;
    console.log(`  ${r.log}; ${await estimateMicroseconds(modelFile, testFile)}`);
    console.log(`  ${line(r)}`);
  }
  const mean = (key: keyof Omit<FoldResult, 'log'>) => results.reduce((sum, r) => sum + r[key], 0) / results.length;
  console.log(
    `\nmean of ${FOLDS} folds: ${line({ rmse: mean('rmse'), phm08: mean('phm08'), coverage: mean('coverage'), width: mean('width'), engines: mean('engines'), log: '' })}`,
  );
  const engines = results.reduce((sum, r) => sum + r.engines, 0);
  const pooled = Math.sqrt(results.reduce((sum, r) => sum + r.rmse ** 2 * r.engines, 0) / engines);
  console.log(`all ${engines} engines: RMSE ${pooled.toFixed(2)} cycles  PHM08 ${results.reduce((sum, r) => sum + r.phm08, 0).toFixed(1)}`);
  console.log('targets: RMSE ≤ 18 cycles; true RUL in [p10, p90] for 70–90% of engines');
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** The cost of the streaming estimate in the organization: the fold's model fed every cycle of its test engines, in process. */
async function estimateMicroseconds(modelFile: string, testFile: string): Promise<string> {
  const model = JSON.parse(await readFile(modelFile, 'utf8')) as RulModel;
  let updating = 0;
  let estimating = 0;
  let estimates = 0;
  let cycles = 0;
  for (const steps of (await readCmapss(testFile)).values()) {
    const state = newRulState();
    for (const step of steps) {
      const begin = performance.now();
      updateRulState(model, state, step);
      const updated = performance.now();
      if (estimateRul(model, state)) estimates++;
      estimating += performance.now() - updated;
      updating += updated - begin;
      cycles++;
    }
  }
  return `per cycle: update ${((1000 * updating) / cycles).toFixed(1)} µs, estimate ${((1000 * estimating) / estimates).toFixed(1)} µs (${estimates} estimates)`;
}

function line(r: FoldResult): string {
  return (
    `${r.engines} engines  RMSE ${r.rmse.toFixed(2)} cycles  PHM08 ${r.phm08.toFixed(1)} (${(r.phm08 / r.engines).toFixed(2)} per engine)  ` +
    `[p10, p90] coverage ${(100 * r.coverage).toFixed(0)}%  mean width ${r.width.toFixed(1)} cycles`
  );
}

function score(csv: string, truth: Map<string, number>, log: string): FoldResult {
  const [header, ...rows] = csv.trim().split('\n');
  if (header !== 'unit,p10,p50,p90') throw new Error(`unexpected header: ${header}`);
  let squares = 0;
  let phm08 = 0;
  let covered = 0;
  let width = 0;
  for (const row of rows) {
    const [unit, ...quantiles] = row.split(',');
    const [p10, p50, p90] = quantiles.map(Number) as [number, number, number];
    const actual = Math.min(CAP, truth.get(unit!)!);
    const d = p50 - actual;
    squares += d * d;
    phm08 += d < 0 ? Math.exp(-d / 13) - 1 : Math.exp(d / 10) - 1;
    if (p10 <= actual && actual <= p90) covered++;
    width += p90 - p10;
  }
  if (rows.length !== truth.size) throw new Error(`${rows.length} estimates for ${truth.size} engines`);
  const n = rows.length;
  return { rmse: Math.sqrt(squares / n), phm08, coverage: covered / n, width: width / n, engines: n, log };
}
