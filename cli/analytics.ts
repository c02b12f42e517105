// `twinx analytics …`: backtests that run the organization's own analytics code on files, so a
// result seen in production can be reproduced, and an algorithm judged, offline.
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { type Command, InvalidArgumentError } from 'commander';
import { ErrorCode, fail } from '../lib/errors.ts';
import { type DetectorSettings, newDetectorState, scoreReading } from '../subgraphs/org/analytics/anomaly.ts';

export function registerAnalyticsCommands(program: Command): void {
  const analytics = program.command('analytics').description("run the organization's analytics on files (backtests)");

  analytics
    .command('replay')
    .description('score a timestamp,value CSV with the anomaly detectors, each row having seen only the rows before it')
    .argument('<file.csv>', 'a CSV with a header line; timestamps ISO 8601, or "YYYY-MM-DD HH:MM:SS" in UTC')
    .option('--sensitivity <0..1>', 'detector sensitivity, 0 (gross anomalies only) … 1 (eager)', parseSensitivity)
    .action(async (file: string, flags: DetectorSettings) => replay(file, flags));
  registerRulBacktest(analytics);
}

function parseSensitivity(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return value;
}

/** NAB's timestamps carry no zone and are UTC; anything else must be ISO 8601 with a zone or none (then UTC as well). */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

function parseTime(text: string): number {
  if (!TIMESTAMP.test(text)) return Number.NaN;
  const iso = text.replace(' ', 'T');
  // Date.parse reads a date-time without a zone as local time; the file's times are UTC.
  return Date.parse(/T.*(Z|[+-]\d{2}:?\d{2})$/.test(iso) || !iso.includes('T') ? iso : `${iso}Z`);
}

/** Output is written in chunks of about this many characters, waiting for the reader when it falls behind. */
const CHUNK = 64 * 1024;

async function replay(file: string, settings: DetectorSettings): Promise<void> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const state = newDetectorState();
  let out = 'timestamp,value,anomaly_score\n';
  let lineNumber = 0;
  const flush = async () => {
    if (!process.stdout.write(out)) await once(process.stdout, 'drain');
    out = '';
  };
  try {
    for await (const line of lines) {
      lineNumber += 1;
      const fields = line.split(',');
      if (lineNumber === 1) {
        // A header names the two columns; a first line that is already a reading is not one.
        if (fields.length !== 2 || Number.isFinite(Number(fields[1]))) throw bad(lineNumber, 'expected a header line timestamp,value');
        continue;
      }
      if (line.trim() === '') continue;
      if (fields.length !== 2) throw bad(lineNumber, 'expected timestamp,value');
      const [stamp = '', text = ''] = fields.map((field) => field.trim());
      const at = parseTime(stamp);
      if (Number.isNaN(at)) throw bad(lineNumber, `malformed timestamp "${stamp}"`);
      const value = text === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(value)) throw bad(lineNumber, `malformed value "${text}"`);
      out += `${stamp},${text},${scoreReading(state, at, value, settings).score}\n`;
      if (out.length >= CHUNK) await flush();
    }
  } finally {
    lines.close();
    // Rows scored before a malformed line are complete lines: they are written, nothing after them.
    await flush();
  }
}

function bad(lineNumber: number, message: string) {
  return fail(ErrorCode.INVALID_INPUT, `line ${lineNumber}: ${message}`, { line: lineNumber });
}

/** C-MAPSS columns: unit, cycle, 3 operational settings, 21 sensors. */
const CMAPSS_METRICS = [...[1, 2, 3].map((i) => `setting${i}`), ...Array.from({ length: 21 }, (_, i) => `sensor${i + 1}`)];

function registerRulBacktest(analytics: Command): void {
  analytics
    .command('rul-backtest')
    .description(
      'train the remaining-useful-life model on NASA C-MAPSS run-to-failure units (--train) and print unit,p10,p50,p90 at the last cycle of each unit of --test (empty while a unit has too few cycles)',
    )
    .requiredOption('--train <file>', 'C-MAPSS file of units run to failure (26 space-separated columns: unit, cycle, 3 settings, 21 sensors)')
    .requiredOption('--test <file>', 'C-MAPSS file of units cut before failure')
    .option('--cap <cycles>', 'RUL cap of the piecewise-linear target', '125')
    .option('--seed <n>', 'seed of the training', '1')
    .option('--model <file>', 'also write the trained model (JSON, as an organization stores it per twin kind) to this file')
    .action(async (flags: { train: string; test: string; cap: string; seed: string; model?: string }) => {
      const cap = Number(flags.cap);
      const seed = Number(flags.seed);
      if (!(cap > 0)) throw new Error(`--cap must be a positive number of cycles, got "${flags.cap}"`);
      if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${flags.seed}"`);
      const { trainRulModel, newRulState, updateRulState, estimateRul } = await import('../subgraphs/org/analytics/rul.ts');
      const [train, test] = await Promise.all([readCmapss(flags.train), readCmapss(flags.test)]);
      const started = performance.now();
      const cpu = process.cpuUsage();
      const model = await trainRulModel(
        [...train].map(([unit, steps]) => ({ unit, steps, failed: true })),
        { cap, seed },
      );
      const seconds = (performance.now() - started) / 1000;
      const json = JSON.stringify(model);
      if (flags.model) await writeFile(flags.model, json);
      const round = (value: number) => Number(value.toFixed(2));
      const lines = ['unit,p10,p50,p90'];
      for (const [unit, steps] of test) {
        const state = newRulState();
        for (const step of steps) updateRulState(model, state, step);
        const estimate = estimateRul(model, state);
        lines.push(estimate ? `${unit},${round(estimate.p10)},${round(estimate.p50)},${round(estimate.p90)}` : `${unit},,,`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      console.error(
        `trained on ${train.size} units in ${seconds.toFixed(1)} s (${(process.cpuUsage(cpu).user / 1e6).toFixed(1)} s CPU); model ${(json.length / 1024).toFixed(0)} kB`,
      );
    });
}

/** Reads a C-MAPSS file into the steps of each unit, in file order; a malformed line is an error naming the file and line. */
/** A C-MAPSS file's units, each its cycles in order; throws naming the file and line of a malformed one. */
export async function readCmapss(file: string): Promise<Map<string, { t: number; values: Record<string, number> }[]>> {
  const units = new Map<string, { t: number; values: Record<string, number> }[]>();
  (await readFile(file, 'utf8')).split('\n').forEach((text, index) => {
    const line = text.trim();
    if (line === '') return;
    const where = `${file}:${index + 1}`;
    const fields = line.split(/\s+/).map(Number);
    if (fields.length !== 2 + CMAPSS_METRICS.length || !fields.every(Number.isFinite)) {
      throw new Error(`${where}: expected ${2 + CMAPSS_METRICS.length} numbers separated by spaces`);
    }
    const [unit, cycle] = fields as [number, number];
    const steps = units.get(String(unit)) ?? [];
    if (steps.length > 0 && cycle <= steps[steps.length - 1]!.t) throw new Error(`${where}: cycle ${cycle} of unit ${unit} does not follow the previous one`);
    steps.push({ t: cycle, values: Object.fromEntries(CMAPSS_METRICS.map((name, i) => [name, fields[i + 2]!])) });
    units.set(String(unit), steps);
  });
  if (units.size === 0) throw new Error(`${file}: no units`);
  return units;
}
