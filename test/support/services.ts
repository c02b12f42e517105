import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { createBusSeeds, issueBusCredentials, pushAccount, type BusRole, type BusSeeds } from '../../lib/bus/credentials.ts';
import { migrateDeploy, storePaths, type StoreKind } from '../../lib/db/migrate.ts';
import { listen } from '../../lib/http.ts';
import { connectNats, ensureNetworkStreams, type NatsConnection } from '../../lib/nats.ts';
import { startNatsServer, type NatsTrust, type OwnNatsServer } from './nats-server.ts';

/** The PostgreSQL server tests run against (see README, "Tests"). */
export const POSTGRES_URL = process.env.TWINX_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

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

/** A new, empty database on the server (the tests' own, unless another is given); dropped by `drop()`. */
export async function createDatabase(server = POSTGRES_URL): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = randomName('twinx_test');
  await onServer((client) => client.query(`CREATE DATABASE ${name}`), server);
  return {
    url: withDatabase(server, name),
    drop: () => onServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`), server).then(() => undefined),
  };
}

/** A new database with the store's committed migrations applied. */
export async function createStore(kind: StoreKind, server?: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const database = await createDatabase(server);
  await migrateDeploy({ kind, databaseUrl: database.url });
  return database;
}

let ownServer: Promise<{ url: string } & NatsTrust> | undefined;

/**
 * The NATS server of this run: the one the test run's global setup started (vitest), else
 * (benchmarks) one started for this process, stopped when it exits.
 */
async function runServer(): Promise<{ url: string } & NatsTrust> {
  if (process.env.VITEST) return (await import('vitest')).inject('nats');
  ownServer ??= startNatsServer().then((server) => {
    server.unref();
    return { url: server.url, ...server.trust };
  });
  return ownServer;
}

/** A network's NATS as tests use it: its own account on the run's server, its own subject prefix. */
export interface TestBus {
  url: string;
  subjectPrefix: string;
  /** The network's NATS keys (the run's operator and system account, the test's own account). */
  seeds: BusSeeds;
  /** Connected as the network operator's services: anything in the account (streams, any subject). */
  nats: NatsConnection;
  /** Connects with credentials of a role (a member, a device, a gateway): what nats-server lets it do. */
  connect(role: BusRole, name?: string): Promise<NatsConnection>;
}

/**
 * A NATS account no other test uses, with the network's streams, on the run's NATS server (or
 * on a server of the test's own, see `startNatsServer`).
 */
export async function natsForTest(own?: OwnNatsServer): Promise<TestBus> {
  const server = own ? { url: own.url, ...own.trust } : await runServer();
  const busUrl = server.url;
  const seeds = createBusSeeds({ operator: server.operator, system: server.system });
  await pushAccount(busUrl, seeds);
  const subjectPrefix = randomName('t');
  const connect = async (role: BusRole, name = 'twinx-test') =>
    connectNats(busUrl, name, (await issueBusCredentials(seeds.account, role, subjectPrefix)).creds);
  const nats = await connect({ kind: 'operator' });
  await ensureNetworkStreams(nats, subjectPrefix);
  return { url: busUrl, subjectPrefix, seeds, nats, connect };
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

/** A test's own HTTP server on a free port, closed with the disposers; resolves with its `/graphql` URL. */
export async function startHttpServer(disposers: Disposers, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  disposers.add(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return listen(server, 0, '127.0.0.1');
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
