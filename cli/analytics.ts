// `twinx analytics …`: backtests that run the organization's analytics code on files.
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';

export function registerAnalyticsCommands(program: Command): void {
  const analytics = program.command('analytics').description("backtest the organization's analytics on files, with the code it runs");
  registerRulBacktest(analytics);
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
async function readCmapss(file: string): Promise<Map<string, { t: number; values: Record<string, number> }[]>> {
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
