// `twinx analytics …`: backtests that run the organization's own analytics code on files, so a
// result seen in production can be reproduced, and an algorithm judged, offline.
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
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
