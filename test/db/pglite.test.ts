// Embedded PGlite stores (`pglite:<directory>`, `pglite:memory`): the committed migrations, the
// generated client and the store's raw SQL, with no database server.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigration, migrateDeploy, migrationStatus, schemaDrift, storePaths } from '../../lib/db/migrate.ts';
import { parseStoreLocation } from '../../lib/db/location.ts';
import { type OpenPGliteStore, openStore } from '../../lib/db/store.ts';
import { Access, unrestricted } from '../../subgraphs/org/access.ts';
import { createSigningKey, listKeys } from '../../subgraphs/org/auth/keys.ts';
import type { OrgBase } from '../../subgraphs/org/context.ts';
import { createOrgDb, type OrgDb } from '../../subgraphs/org/db.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { aggregates } from '../../subgraphs/org/telemetry/history.ts';
import { ingestReadings } from '../../subgraphs/org/telemetry/ingest.ts';
import { createTwin } from '../../subgraphs/org/twins/store.ts';
import { KEY_SECRET } from '../support/org.ts';
import { committedMigrations, Disposers, writeHalfWayMigration } from '../support/services.ts';

const committed = storePaths('org').migrationsDir;
const disposers = new Disposers();
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'twinx-pglite-'));
  disposers.add(() => rm(root, { recursive: true, force: true }));
});
afterAll(() => disposers.dispose());

/** Opens a PGlite store, closed after the file's tests unless the test closes it first. */
function open(location: string): OpenPGliteStore {
  const store = openStore(location);
  if (store.engine !== 'pglite') throw new Error(`not a PGlite location: ${location}`);
  disposers.add(() => store.close());
  return store;
}

function at(second: number): string {
  return new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
}

describe('store locations', () => {
  it('are postgresql:// URLs, pglite:<directory> or pglite:memory', () => {
    expect(parseStoreLocation('postgresql://u:p@host/db')).toEqual({ engine: 'postgres', url: 'postgresql://u:p@host/db' });
    expect(parseStoreLocation('pglite:memory')).toEqual({ engine: 'pglite', dataDir: null });
    expect(parseStoreLocation('pglite:/var/twinx/acme')).toEqual({ engine: 'pglite', dataDir: '/var/twinx/acme' });
    expect(parseStoreLocation('pglite:data/acme')).toEqual({ engine: 'pglite', dataDir: join(process.cwd(), 'data/acme') });
    for (const bad of ['pglite:', 'pglite://x', 'mysql://u:secret@h/db', '/var/twinx/acme']) {
      expect(() => parseStoreLocation(bad)).toThrow(/^invalid store location: expected postgresql:\/\/…, pglite:<directory> or pglite:memory$/);
    }
  });

  it('a PGlite directory opens once at a time, and again after close', async () => {
    const location = `pglite:${join(root, 'locked')}`;
    const first = open(location);
    expect(() => openStore(location)).toThrow(/already open in this process/);
    await first.close();
    const second = open(location);
    expect((await second.pglite.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('the committed org migrations on PGlite', () => {
  it('deploy on a fresh directory applies every migration, then nothing; in sync, no drift', async () => {
    const databaseUrl = `pglite:${join(root, 'fresh')}`;
    const names = await committedMigrations();
    expect(await migrateDeploy({ kind: 'org', databaseUrl })).toEqual({ applied: names });
    expect(await migrateDeploy({ kind: 'org', databaseUrl })).toEqual({ applied: [] });
    expect(await migrationStatus({ kind: 'org', databaseUrl })).toEqual({ pending: [], failed: [], edited: [], unknownToFolder: [], inSync: true });
    expect(await schemaDrift({ kind: 'org', databaseUrl })).toBe('');
  });

  it('an in-memory store is migrated, diffed and used through one open store', async () => {
    const store = open('pglite:memory');
    expect(await migrateDeploy({ kind: 'org', store })).toEqual({ applied: await committedMigrations() });
    expect(await migrateDeploy({ kind: 'org', store })).toEqual({ applied: [] });
    expect(await schemaDrift({ kind: 'org', store })).toBe('');
    // New migrations are diffed on an in-memory shadow database: no server either.
    const migrationsDir = join(root, 'migrations-memory');
    await cp(committed, migrationsDir, { recursive: true });
    expect(await createMigration({ kind: 'org', name: 'nothing', store, migrationsDir })).toBeNull();
    await expect(createMigration({ kind: 'org', name: 'x', store, migrationsDir, shadowDatabaseUrl: 'postgresql://h/shadow' })).rejects.toThrow(
      /in-memory shadow database/,
    );
    const db = createOrgDb({ store });
    expect(await db.twin.count()).toBe(0);
    await db.$disconnect();
    // The caller's store stays open after the client is gone.
    expect((await store.pglite.query('SELECT count(*)::int AS n FROM _prisma_migrations')).rows).toEqual([{ n: (await committedMigrations()).length }]);
  });

  it('a migration that fails half-way leaves nothing behind and is not recorded as applied', async () => {
    const migrationsDir = join(root, 'migrations-half-way');
    await cp(committed, migrationsDir, { recursive: true });
    const name = await writeHalfWayMigration(migrationsDir);
    const databaseUrl = `pglite:${join(root, 'half-way')}`;

    await expect(migrateDeploy({ kind: 'org', databaseUrl, migrationsDir })).rejects.toThrow(/NoSuchTable/);

    expect(await migrationStatus({ kind: 'org', databaseUrl, migrationsDir })).toMatchObject({ pending: [], failed: [name], inSync: false });
    // The migrations before it were applied and stay so.
    expect(await schemaDrift({ kind: 'org', databaseUrl })).toBe('');
    const store = open(databaseUrl);
    const query = async (sql: string) => (await store.pglite.query(sql)).rows;
    expect(await query(`SELECT to_regclass('"Partial"') AS oid`)).toEqual([{ oid: null }]);
    expect(await query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'Twin' AND column_name = 'partial'`)).toEqual([{ n: 0 }]);
    expect(await query(`SELECT finished_at, rolled_back_at FROM _prisma_migrations WHERE migration_name = '${name}'`)).toEqual([
      { finished_at: null, rolled_back_at: null },
    ]);
    await store.close();
    // Still refused on the next deploy, as on a server.
    await expect(migrateDeploy({ kind: 'org', databaseUrl, migrationsDir })).rejects.toThrow(/failed migrations/);
  });
});

describe('the org store on PGlite', () => {
  const names = orgNames('acme');
  const limits = { maxIngestBatch: 100, maxPageSize: 100, maxBuckets: 100 };
  let databaseUrl: string;
  let db: OrgDb;
  let base: OrgBase;

  beforeAll(async () => {
    databaseUrl = `pglite:${join(root, 'acme')}`;
    await migrateDeploy({ kind: 'org', databaseUrl });
    db = createOrgDb({ databaseUrl });
    disposers.add(() => db.$disconnect());
    base = { names, db, limits, access: new Access(unrestricted('device', 'devices', ['telemetry:write']), 'acme') };
  });

  it('creates twins with metrics through the generated client, nested and in interactive transactions', async () => {
    await db.twin.create({
      data: { id: 'oven-1', name: 'Oven', kind: 'furnace', tags: ['hot'], metrics: { create: [{ name: 'temperature', unit: 'C', max: 100 }] } },
    });
    const admin = { ...base, access: new Access(unrestricted('member', 'admin'), 'acme') };
    const press = await createTwin(admin, { id: 'acme:press-1', name: 'Press', kind: 'press', metrics: [{ name: 'pressure', unit: 'bar' }] });
    expect(press.metrics.map((m) => m.name)).toEqual(['pressure']);
    const twins = await db.twin.findMany({ where: { tags: { has: 'hot' } }, include: { metrics: true } });
    expect(twins).toMatchObject([{ id: 'oven-1', status: 'UNKNOWN', metrics: [{ name: 'temperature', unit: 'C', max: 100, lastValue: null }] }]);
  });

  it('ingests readings with the unnest statement: state, status, duplicates', async () => {
    const readings = [1, 2, 3].map((s) => ({ twinId: 'acme:oven-1', metric: 'temperature', at: at(s), value: s * 50 }));
    expect(await ingestReadings(base, readings)).toEqual({ accepted: 3, duplicates: 0, stateChanges: 1 });
    const oven = await db.twin.findUniqueOrThrow({ where: { id: 'oven-1' }, include: { metrics: true } });
    expect(oven).toMatchObject({ status: 'ALERT', stateUpdatedAt: new Date(at(3)), metrics: [{ lastValue: 150, lastAt: new Date(at(3)) }] });
    // A batch repeating stored readings: the unique violation is recognised and they are skipped.
    const again = [...readings, { twinId: 'acme:oven-1', metric: 'temperature', at: at(4), value: 20 }];
    expect(await ingestReadings(base, again)).toEqual({ accepted: 1, duplicates: 3, stateChanges: 1 });
    expect(await db.twin.findUniqueOrThrow({ where: { id: 'oven-1' } })).toMatchObject({ status: 'OK' });
    expect(await db.reading.count({ where: { twinId: 'oven-1' } })).toBe(4);
  });

  it('aggregates with date_bin, and notifies with pg_notify (nobody listens on PGlite)', async () => {
    const twin = await db.twin.findUniqueOrThrow({
      where: { id: 'oven-1' },
      include: { metrics: { orderBy: { name: 'asc' } }, suppliers: { include: { supply: true } } },
    });
    const reader = { ...base, access: new Access(unrestricted('member', 'reader', ['telemetry:read']), 'acme') };
    const buckets = await aggregates(reader, twin, { metric: 'temperature', from: new Date(at(0)), to: new Date(at(10)), bucketSeconds: 2 });
    expect(buckets.map(({ start, count, last }) => ({ start, count, last }))).toEqual([
      { start: new Date(at(0)), count: 1, last: 50 },
      { start: new Date(at(2)), count: 2, last: 150 },
      { start: new Date(at(4)), count: 1, last: 20 },
    ]);
    // createSigningKey commits the key with `SELECT pg_notify(…)` in one batch transaction.
    await createSigningKey(db, KEY_SECRET);
    expect(await listKeys(db)).toHaveLength(1);
  });

  it('keeps its data across a close and a reopen of the directory', async () => {
    await db.$disconnect();
    const reopened = createOrgDb({ databaseUrl });
    disposers.add(() => reopened.$disconnect());
    expect(await reopened.reading.count()).toBe(4);
    expect(await reopened.twin.findMany({ select: { id: true, status: true }, orderBy: { id: 'asc' } })).toEqual([
      { id: 'oven-1', status: 'OK' },
      { id: 'press-1', status: 'UNKNOWN' },
    ]);
    expect(await listKeys(reopened)).toHaveLength(1);
    // The directory is in use: a second opener (here the migration runner) is turned away.
    await expect(migrationStatus({ kind: 'org', databaseUrl })).rejects.toThrow(/already open in this process/);
  });
});
