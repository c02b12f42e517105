import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { migrateDeploy, storePaths, type StoreKind } from '../../lib/db/migrate.ts';
import { connectNats, type NatsConnection } from '../../lib/nats.ts';

/** The local services tests run against (see README, "Tests"). */
export const POSTGRES_URL = process.env.TWINX_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const NATS_URL = process.env.TWINX_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs queries on one connection to the server (by default its `postgres` database). */
export async function onServer<T>(run: (client: pg.Client) => Promise<T>, url = POSTGRES_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database; dropped by `drop()`. */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = randomName('twinx_test');
  await onServer((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(POSTGRES_URL, name),
    drop: () => onServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** A new database with the store's committed migrations applied. */
export async function createStore(kind: StoreKind): Promise<{ url: string; drop: () => Promise<void> }> {
  const database = await createDatabase();
  await migrateDeploy({ kind, databaseUrl: database.url });
  return database;
}

/** A NATS connection and a subject prefix no other test uses. */
export async function natsForTest(url = NATS_URL): Promise<{ nats: NatsConnection; subjectPrefix: string }> {
  return { nats: await connectNats(url, 'twinx-test'), subjectPrefix: randomName('t') };
}

/** Resources a test file opened, closed in reverse order in `afterAll`. */
export class Disposers {
  private readonly list: (() => Promise<unknown>)[] = [];

  add(dispose: () => Promise<unknown>): void {
    this.list.push(dispose);
  }

  async dispose(): Promise<void> {
    for (const dispose of this.list.splice(0).reverse()) await dispose();
  }
}

/**
 * Resolves once `check` stops throwing, trying again every `interval` ms until `timeout` (then
 * rethrows its last error). For conditions that come about in another process or service,
 * outside vitest too (benchmarks share these helpers).
 */
export async function eventually(check: () => Promise<void>, { timeout = 10_000, interval = 20 } = {}): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }
}

/** The names of the org store's committed migrations, in order. */
export async function committedMigrations(): Promise<string[]> {
  return (await readdir(storePaths('org').migrationsDir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/**
 * Writes into a migrations folder a migration that fails half-way: good statements (with a ';'
 * inside a string and a $$ body, which a naive split on ';' would tear apart), then a bad one.
 * Returns its name.
 */
export async function writeHalfWayMigration(migrationsDir: string): Promise<string> {
  const name = '29991231235959_half_way';
  await mkdir(join(migrationsDir, name));
  const sql = `CREATE TABLE "Partial" ("id" TEXT PRIMARY KEY, "note" TEXT NOT NULL DEFAULT 'a;b');
INSERT INTO "Partial" ("id") VALUES ('x');
DO $$ BEGIN PERFORM 1; END $$;
ALTER TABLE "Twin" ADD COLUMN "partial" TEXT;
SELECT * FROM "NoSuchTable";
`;
  await writeFile(join(migrationsDir, name, 'migration.sql'), sql);
  return name;
}
