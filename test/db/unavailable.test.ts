// A PostgreSQL server going away, restarting or refusing connections is `UNAVAILABLE` (try again),
// whichever way Prisma, its driver adapter or node-postgres reports it (issue 11); SQL that fails
// stays `INTERNAL`. The errors are real: a server of the test's own is stopped under the client.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, fromPrismaError } from '../../lib/errors.ts';
import { createOrgDb, type OrgDb } from '../../subgraphs/org/db.ts';
import { startPostgresServer, type OwnPostgresServer } from '../support/postgres-server.ts';
import { Disposers, onServer } from '../support/services.ts';

const disposers = new Disposers();
let server: OwnPostgresServer;
let db: OrgDb;

/** What the query fails with, in the catalogue's terms. */
async function failure(query: Promise<unknown>) {
  const error = await query.then(
    () => expect.unreachable('the query succeeded'),
    (error: unknown) => error,
  );
  return fromPrismaError(error);
}

/** Resolves once the server is running a query holding `text`. */
function running(text: string): Promise<void> {
  return vi.waitFor(
    async () => {
      const { rows } = await onServer(
        (client) => client.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`, [`%${text}%`]),
        server.url,
      );
      expect(rows.length).toBe(1);
    },
    { timeout: 10_000, interval: 20 },
  );
}

const unavailable = { code: ErrorCode.UNAVAILABLE, message: 'The store is unavailable, try again.' };

beforeAll(async () => {
  server = await startPostgresServer();
  disposers.add(() => server.dispose());
});
beforeEach(async () => {
  db = createOrgDb({ databaseUrl: server.url, poolSize: 2 });
  await db.$queryRaw`SELECT 1`;
  return () => db.$disconnect();
});
// A test that failed half-way leaves the server running for the next.
afterEach(() => server.start());
afterAll(() => disposers.dispose());

describe('a database that is not there is UNAVAILABLE', () => {
  it('a fast shutdown (57P01 admin_shutdown on a running query), then connections refused', async () => {
    const query = failure(db.$queryRaw`SELECT pg_sleep(30) AS fast_shutdown`);
    await running('fast_shutdown');
    await server.stop('fast');
    expect(await query).toMatchObject(unavailable);
    expect(await failure(db.$queryRaw`SELECT 1`)).toMatchObject(unavailable);
    await server.start();
    await db.$queryRaw`SELECT 1`;
  });

  it('a crash (connections cut with no word): a running query and an open transaction', async () => {
    const query = failure(db.$queryRaw`SELECT pg_sleep(30) AS crash_query`);
    const transaction = failure(
      db.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT 1`;
        await tx.$queryRaw`SELECT pg_sleep(30) AS crash_transaction`;
      }),
    );
    await running('crash_transaction');
    await running('crash_query');
    await server.stop('immediate');
    expect(await query).toMatchObject(unavailable);
    expect(await transaction).toMatchObject(unavailable);
    await server.start();
  });

  it('a server refusing new connections while it shuts down (57P03 cannot_connect_now)', async () => {
    await db.$disconnect();
    const held = new pg.Client({ connectionString: server.url });
    held.on('error', () => undefined);
    await held.connect();
    await server.stop('smart');
    const fresh = createOrgDb({ databaseUrl: server.url, poolSize: 1 });
    try {
      await vi.waitFor(async () => expect(await failure(fresh.$queryRaw`SELECT 1`)).toMatchObject(unavailable), { timeout: 10_000, interval: 50 });
    } finally {
      await fresh.$disconnect();
      // The shutdown completes, ending the session it waited for.
      await server.stop('fast');
      await held.end().catch(() => undefined);
    }
  });

  it('SQL that fails is not: INTERNAL, with no detail', async () => {
    expect(await failure(db.$queryRawUnsafe('SELECT * FROM no_such_table'))).toMatchObject({ code: ErrorCode.INTERNAL, message: 'Internal error.' });
  });
});
