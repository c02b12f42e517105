import { describe, expect, it } from 'vitest';
import { demoSettings } from '../../cli/demo.ts';
import { loadConfig } from '../../lib/config.ts';
import type { StoreKind } from '../../lib/db/migrate.ts';
import { twinx } from '../support/cli.ts';
import { createStore, onServer } from '../support/services.ts';

/** A database of `kind` with every migration applied but the last, as when newer code meets a database not migrated yet; its last migration's name. */
async function oneMigrationBehind(kind: StoreKind): Promise<{ url: string; last: string; drop: () => Promise<void> }> {
  const store = await createStore(kind);
  const { rows } = await onServer(
    (client) =>
      client.query<{ migration_name: string }>(
        'DELETE FROM _prisma_migrations WHERE migration_name = (SELECT max(migration_name) FROM _prisma_migrations) RETURNING migration_name',
      ),
    store.url,
  );
  return { ...store, last: rows[0]!.migration_name };
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

describe('twinx org serve and directory serve on a database not migrated', () => {
  it('refuse to start, naming the migration not applied and how to apply it', async () => {
    const org = await oneMigrationBehind('org');
    try {
      // Where nothing listens: a service that went on past its store would fail on NATS instead.
      const result = await twinx(['org', 'serve', '--org', 'acme', '--database-url', org.url, '--subject-prefix', 'twinx', '--key-secret', 'k'.repeat(32)], {
        NATS_URL: 'nats://127.0.0.1:1',
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `twinx: the database of --database-url is not migrated (${org.last} not applied): apply its migrations with \`twinx db migrate --store org --database-url …\` (prisma migrate deploy), or start with --migrate`,
      );
    } finally {
      await org.drop();
    }
  });

  it("name the directory's operator store when it is the one behind", async () => {
    const [directory, operator] = [await createStore('directory'), await oneMigrationBehind('org')];
    try {
      const result = await twinx(
        ['directory', 'serve', '--database-url', directory.url, '--operator-database-url', operator.url, '--subject-prefix', 'twinx'],
        { TWINX_KEY_SECRET: 'k'.repeat(32), NATS_URL: 'nats://127.0.0.1:1' },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`the database of --operator-database-url is not migrated (${operator.last} not applied)`);
    } finally {
      await Promise.all([directory.drop(), operator.drop()]);
    }
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
