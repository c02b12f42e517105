import { describe, expect, it } from 'vitest';
import { demoSettings } from '../../cli/demo.ts';
import { loadConfig } from '../../lib/config.ts';
import { twinx } from '../support/cli.ts';

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

describe('twinx gateway serve', () => {
  it('takes the rate limit of each caller from --rate-limit and --rate-burst', async () => {
    const env = { TWINX_DIRECTORY_URL: 'http://127.0.0.1:4100/graphql', TWINX_SUBJECT_PREFIX: 'twinx' };
    const accepted = await twinx(['gateway', 'serve', '--rate-limit', '5000', '--rate-burst', '10000', '--port', 'eighty'], env);
    expect(accepted.code).toBe(1);
    expect(accepted.stderr.trim()).toMatch(/^twinx: invalid configuration: --port \/ TWINX_PORT: [^\n]+$/);
    const refused = await twinx(['gateway', 'serve', '--rate-limit', '0', '--rate-burst', 'many'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--rate-limit / TWINX_RATE_LIMIT');
    expect(refused.stderr).toContain('--rate-burst / TWINX_RATE_BURST');
  });
});

describe('twinx demo', () => {
  it("keeps clear of a real network: a prefix and ports of its own, whatever a real network's environment says", () => {
    expect(loadConfig(demoSettings, {}, { TWINX_SUBJECT_PREFIX: 'twinx', TWINX_PORT: '4000' })).toMatchObject({ subjectPrefix: 'twinx_demo', port: 14000 });
    expect(loadConfig(demoSettings, { subjectPrefix: 'trial', port: '0' }, {})).toMatchObject({ subjectPrefix: 'trial', port: 0 });
    expect(loadConfig(demoSettings, {}, { TWINX_DEMO_SUBJECT_PREFIX: 'trial', TWINX_DEMO_PORT: '24000' })).toMatchObject({
      subjectPrefix: 'trial',
      port: 24000,
    });
  });
});
