import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const TWINX = new URL('../../bin/twinx.mjs', import.meta.url).pathname;

/** Runs `twinx` with a clean environment; resolves with its exit code and output. */
async function twinx(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [TWINX, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('twinx org serve', () => {
  it('fails fast naming every missing or malformed setting', async () => {
    const result = await twinx(['org', 'serve', '--org', 'Not-A-Slug', '--port', 'eighty'], { NATS_URL: 'http://nats' });
    expect(result.code).toBe(1);
    for (const setting of [
      '--org / TWINX_ORG',
      '--database-url / DATABASE_URL: required',
      '--subject-prefix / TWINX_SUBJECT_PREFIX: required',
      '--port / TWINX_PORT',
      '--nats-url / NATS_URL',
    ]) {
      expect(result.stderr).toContain(setting);
    }
  });

  it('takes settings from the environment when flags are absent', async () => {
    const result = await twinx(['org', 'serve'], {
      TWINX_ORG: 'acme',
      DATABASE_URL: 'mysql://nope',
      TWINX_SUBJECT_PREFIX: 'twinx',
      TWINX_KEY_SECRET: 'k'.repeat(32),
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'twinx: invalid configuration: --database-url / DATABASE_URL: expected postgresql://…, pglite:<directory> or pglite:memory',
    );
  });
});
