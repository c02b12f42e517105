// The org store's committed migrations, run by the project's migration runner against a real
// PostgreSQL server.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createMigration, migrateDeploy, migrationStatus, schemaDrift, storePaths } from '../../lib/db/migrate.ts';
import { committedMigrations, createDatabase, Disposers, onServer, writeHalfWayMigration } from '../support/services.ts';

const committed = storePaths('org').migrationsDir;
const disposers = new Disposers();

/** A new empty database, dropped after the file's tests. */
async function freshDatabase(): Promise<string> {
  const database = await createDatabase();
  disposers.add(database.drop);
  return database.url;
}

/** A copy of the committed migrations, to add to or to write into. */
async function migrationsCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twinx-migrations-'));
  disposers.add(() => rm(dir, { recursive: true, force: true }));
  await cp(committed, dir, { recursive: true });
  return dir;
}

async function shadowDatabases(): Promise<string[]> {
  const { rows } = await onServer((client) =>
    client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'"),
  );
  return rows.map((row) => row.datname);
}

afterAll(() => disposers.dispose());

describe('the committed org migrations', () => {
  let databaseUrl: string;

  beforeAll(async () => {
    databaseUrl = await freshDatabase();
  });

  it('deploy applies every committed migration on a fresh database, then nothing', async () => {
    const names = await committedMigrations();
    expect(names.length).toBeGreaterThan(0);
    expect(await migrateDeploy({ kind: 'org', databaseUrl })).toEqual({ applied: names });
    expect(await migrateDeploy({ kind: 'org', databaseUrl })).toEqual({ applied: [] });
  });

  it('status then reports the database in sync', async () => {
    expect(await migrationStatus({ kind: 'org', databaseUrl })).toEqual({ pending: [], failed: [], edited: [], unknownToFolder: [], inSync: true });
  });

  it('produce exactly what schema.prisma describes (no drift)', async () => {
    expect(await schemaDrift({ kind: 'org', databaseUrl })).toBe('');
  });

  it('are recorded as prisma migrate deploy records them (sha256 of migration.sql)', async () => {
    const { rows } = await onServer(
      (client) =>
        client.query('SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name'),
      databaseUrl,
    );
    const expected = await Promise.all(
      (await committedMigrations()).map(async (name) => ({
        migration_name: name,
        checksum: createHash('sha256')
          .update(await readFile(join(committed, name, 'migration.sql')))
          .digest('hex'),
        finished_at: expect.any(Date),
        rolled_back_at: null,
        applied_steps_count: 1,
      })),
    );
    expect(rows).toEqual(expected);
  });

  it('leave nothing for a new migration to do, and the shadow database is dropped', async () => {
    const before = await shadowDatabases();
    expect(await createMigration({ kind: 'org', name: 'nothing', databaseUrl, migrationsDir: await migrationsCopy() })).toBeNull();
    expect(await shadowDatabases()).toEqual(before);
  });
});

describe('a migration that fails half-way', () => {
  it('leaves no partial change behind and is recorded as failed', async () => {
    const databaseUrl = await freshDatabase();
    const migrationsDir = await migrationsCopy();
    const name = await writeHalfWayMigration(migrationsDir);

    await expect(migrateDeploy({ kind: 'org', databaseUrl, migrationsDir })).rejects.toThrow(/NoSuchTable/);

    const leftovers = await onServer(
      async (client) => ({
        table: (await client.query(`SELECT to_regclass('"Partial"') AS oid`)).rows[0].oid,
        column: (await client.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'Twin' AND column_name = 'partial'`)).rows[0]
          .n,
      }),
      databaseUrl,
    );
    expect(leftovers).toEqual({ table: null, column: 0 });
    expect(await migrationStatus({ kind: 'org', databaseUrl, migrationsDir })).toMatchObject({ pending: [], failed: [name], inSync: false });
    // The migrations before it were applied and stay so.
    expect(await schemaDrift({ kind: 'org', databaseUrl })).toBe('');
  });
});

describe('the committed directory migrations', () => {
  it('apply on a fresh database and produce exactly what schema.prisma describes', async () => {
    const databaseUrl = await freshDatabase();
    expect((await migrateDeploy({ kind: 'directory', databaseUrl })).applied.length).toBeGreaterThan(0);
    expect(await schemaDrift({ kind: 'directory', databaseUrl })).toBe('');
  });
});
