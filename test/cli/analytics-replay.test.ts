import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { twinx } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'twinx-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a CSV of `timestamp,value` rows (NAB's timestamp form) in the temporary directory. */
function csv(name: string, rows: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, ['timestamp,value', ...rows].join('\n') + '\n');
  return path;
}

/** 500 readings, 5 minutes apart, a slow wave with a little noise and one spike. */
const rows = Array.from({ length: 500 }, (_, i) => {
  const at = new Date(Date.UTC(2026, 0, 5) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
  return `${at},${(20 + Math.sin(i / 20) + (i === 400 ? 30 : 0.1 * Math.sin(i * 7.3))).toFixed(4)}`;
});

describe('twinx analytics replay', () => {
  it('writes every row with its anomaly score, seeing only the rows before it', async () => {
    const result = await twinx(['analytics', 'replay', csv('wave.csv', rows)]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score');
    expect(lines).toHaveLength(rows.length + 1);
    const out = lines.slice(1).map((line) => line.split(','));
    // Timestamps and values are echoed as read.
    expect(out.map(([at, value]) => `${at},${value}`)).toEqual(rows);
    const scores = out.map((fields) => Number(fields[2]));
    expect(scores.every((score) => score >= 0 && score <= 1)).toBe(true);
    expect(scores[400]).toBe(Math.max(...scores));
  });

  it('accepts ISO 8601 timestamps and a sensitivity', async () => {
    const iso = rows.map((row) => row.replace(' ', 'T').replace(',', 'Z,'));
    const [eager, plain, refused] = await Promise.all([
      twinx(['analytics', 'replay', csv('iso.csv', iso), '--sensitivity', '1']),
      twinx(['analytics', 'replay', csv('plain.csv', rows), '--sensitivity', '1']),
      twinx(['analytics', 'replay', csv('iso.csv', iso), '--sensitivity', '2']),
    ]);
    expect(eager.code).toBe(0);
    expect(eager.stdout.split('\n').map((line) => line.split(',')[2])).toEqual(plain.stdout.split('\n').map((line) => line.split(',')[2]));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('expected a number from 0 to 1');
  });

  it('stops at a malformed row with exit code 1, naming its line, after the rows before it', async () => {
    const cases = [
      ['2026-01-06 10:00:00,abc', 'line 6: malformed value "abc"'],
      ['yesterday,1.5', 'line 6: malformed timestamp "yesterday"'],
      ['2026-01-06 10:00:00,1,2', 'line 6: expected timestamp,value'],
    ] as const;
    const results = await Promise.all(
      cases.map(([bad], i) => twinx(['analytics', 'replay', csv(`bad-${i}.csv`, [...rows.slice(0, 4), bad, ...rows.slice(4)])])),
    );
    results.forEach((result, i) => {
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`twinx: ${cases[i]![1]}`);
      expect(result.stdout.trim().split('\n')).toHaveLength(5);
    });
  });

  it('wants a header line, and a file that exists', async () => {
    const path = join(dir, 'headless.csv');
    writeFileSync(path, rows.join('\n'));
    const [headless, missing] = await Promise.all([twinx(['analytics', 'replay', path]), twinx(['analytics', 'replay', join(dir, 'nowhere.csv')])]);
    expect(headless).toMatchObject({ code: 1, stderr: 'twinx: line 1: expected a header line timestamp,value\n' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nowhere.csv');
  });
});
