// Where a store's data lives: a PostgreSQL server, or an embedded PGlite database (Postgres
// compiled to Wasm, run in this process) for a local network with no database server. Both run
// the same schema, the same migrations and the same SQL; the generated Prisma clients and the
// migration runner take the driver adapter factory this module opens. ("bug N" below refers to
// the list of adapter bugs in the shared note "Prisma 7 on machines with no internet".)
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messages, PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { DriverAdapterError, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { parseStoreLocation } from './location.ts';

/** Options of {@link openStore}. */
interface OpenStoreOptions {
  /**
   * Connections in the pool of a PostgreSQL store (PGlite has exactly one connection, shared
   * by every query of the process, one statement or transaction at a time).
   * @default 10
   */
  poolSize?: number;
}

interface OpenStoreBase {
  /**
   * The driver adapter factory to hand to a generated `PrismaClient` (`new PrismaClient({ adapter })`)
   * or, through `bindMigrationAwareSqlAdapterFactory`, to Prisma's schema engine.
   */
  readonly adapter: SqlMigrationAwareDriverAdapterFactory;
  /**
   * Closes what the store opened: the connections its adapter made that were not disposed yet
   * (a `PrismaClient`'s `$disconnect()` disposes its own) and, for PGlite, the database itself.
   * Call it after the clients using the store are done. Idempotent.
   */
  close(): Promise<void>;
}

/** An open PostgreSQL store: connections are made by its adapter, on demand. */
export interface OpenPostgresStore extends OpenStoreBase {
  readonly engine: 'postgres';
  readonly url: string;
}

/** An open PGlite store: one embedded database, serving every client of this process. */
export interface OpenPGliteStore extends OpenStoreBase {
  readonly engine: 'pglite';
  /** The data directory, `null` for an in-memory store. */
  readonly dataDir: string | null;
  /** The database itself, for what Prisma does not do (and for tests). */
  readonly pglite: PGlite;
  readonly adapter: PGliteAdapters;
}

/** A store opened by {@link openStore}. */
export type OpenStore = OpenPostgresStore | OpenPGliteStore;

/**
 * Opens a store (see `StoreLocation` in location.ts for the forms of `location`) and returns the Prisma
 * driver adapter factory that reaches it. The caller owns the store and calls `close()`.
 *
 * Synchronous: a PGlite database starts in the background (about 2–5 s for a new directory,
 * 0.2–0.5 s for an existing one) and its first query waits for it; a failed start fails every
 * query with the start's error. A PGlite directory is locked (`twinx.lock` inside it, with the
 * process id) while it is open: a second open, in this process or another live one, throws
 * instead of corrupting it.
 */
export function openStore(location: string, options: OpenStoreOptions = {}): OpenStore {
  const parsed = parseStoreLocation(location);
  if (parsed.engine === 'postgres') {
    const adapter = new TrackedAdapters(new PrismaPg({ connectionString: parsed.url, max: options.poolSize ?? 10 }));
    return { engine: 'postgres', url: parsed.url, adapter, close: once(() => adapter.disposeAll()) };
  }
  const { dataDir } = parsed;
  let unlock = () => {};
  if (dataDir !== null) {
    mkdirSync(dataDir, { recursive: true });
    unlock = lockDirectory(dataDir);
  }
  let pglite: PGlite;
  try {
    pglite = new PGlite(dataDir ?? 'memory://');
  } catch (error) {
    unlock();
    throw error;
  }
  // Queries report a failed start; this keeps it from also being an unhandled rejection.
  pglite.waitReady.catch(() => {});
  const adapter = new PGliteAdapters(pglite);
  const close = once(async () => {
    try {
      await adapter.disposeAll();
      const started = await pglite.waitReady.then(
        () => true,
        () => false,
      );
      if (started && !pglite.closed) await pglite.close();
    } finally {
      unlock();
    }
  });
  return { engine: 'pglite', dataDir, pglite, adapter, close };
}

/** `run` made idempotent: the first call runs it, every call gets that run's promise. */
export function once(run: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= run());
}

/**
 * PrismaPg as it is, remembering the connections (pools) it makes so that the store's `close()`
 * can end the ones no client disposed.
 */
class TrackedAdapters implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres';
  readonly adapterName: string;
  private readonly open = new Set<SqlDriverAdapter>();

  constructor(private readonly factory: SqlMigrationAwareDriverAdapterFactory) {
    this.adapterName = factory.adapterName;
  }

  connect(): Promise<SqlDriverAdapter> {
    return this.factory.connect().then((adapter) => this.track(adapter));
  }

  connectToShadowDb(): Promise<SqlDriverAdapter> {
    return this.factory.connectToShadowDb().then((adapter) => this.track(adapter));
  }

  async disposeAll(): Promise<void> {
    const adapters = [...this.open];
    this.open.clear();
    await Promise.all(adapters.map((adapter) => adapter.dispose()));
  }

  private track(adapter: SqlDriverAdapter): SqlDriverAdapter {
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = () => {
      this.open.delete(adapter);
      return dispose();
    };
    this.open.add(adapter);
    return adapter;
  }
}

/**
 * The driver adapter factory of a PGlite store: pglite-prisma-adapter with bug 4 worked around,
 * and shadow databases (for `createMigration`) in memory, closed when disposed. Every connection
 * is the same PGlite database: disposing one does not close it (the store's `close()` does).
 */
export class PGliteAdapters implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres';
  readonly adapterName = 'pglite-prisma-adapter';
  private readonly shadows = new Set<SqlDriverAdapter>();

  constructor(private readonly pglite: PGlite) {}

  async connect(): Promise<SqlDriverAdapter> {
    return withWholeScripts(await new PrismaPGlite(this.pglite).connect(), this.pglite);
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    const shadow = new PGlite('memory://');
    await shadow.waitReady;
    const adapter = withWholeScripts(await new PrismaPGlite(shadow).connect(), shadow);
    const dispose = once(async () => {
      this.shadows.delete(adapter);
      await shadow.close();
    });
    adapter.dispose = dispose;
    this.shadows.add(adapter);
    return adapter;
  }

  /** Closes the shadow databases the schema engine did not dispose itself. */
  async disposeAll(): Promise<void> {
    await Promise.all([...this.shadows].map((adapter) => adapter.dispose()));
  }
}

/**
 * Bug 4: pglite-prisma-adapter's `executeScript` calls `exec()` without awaiting it, so a failing
 * migration script is reported as applied. Here the whole script goes to `exec()` as one simple
 * query, which Postgres runs as one implicit transaction (as with the native engine): all of it
 * applies or nothing does, and its error reaches the engine.
 */
function withWholeScripts(adapter: SqlDriverAdapter, pglite: PGlite): SqlDriverAdapter {
  adapter.executeScript = async (script) => {
    try {
      await pglite.exec(script);
    } catch (error) {
      throw asDriverError(error);
    }
  };
  return adapter;
}

/** A PGlite database error in the shape Prisma expects (what the adapter does for queries). */
function asDriverError(error: unknown): unknown {
  if (!(error instanceof messages.DatabaseError)) return error;
  return new DriverAdapterError({
    kind: 'postgres',
    code: error.code ?? 'N/A',
    severity: error.severity ?? 'N/A',
    message: error.message,
    detail: error.detail,
    column: error.column,
    hint: error.hint,
  });
}

const LOCK_FILE = 'twinx.lock';

/**
 * Locks a PGlite data directory for this process: two PGlite instances on one directory corrupt
 * it, and PGlite does not check. A lock left by a process that is gone is taken over.
 * @returns the unlock function.
 */
function lockDirectory(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  // Written aside and linked into place: the lock never exists without its process id.
  const draft = `${path}.${process.pid}`;
  writeFileSync(draft, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(draft, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      }
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (isAlive(holder)) {
        throw new Error(`the store ${dataDir} is already open${holder === process.pid ? ' in this process' : ` in process ${holder}`}`);
      }
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(draft, { force: true });
  }
  let locked = true;
  return () => {
    if (locked) rmSync(path, { force: true });
    locked = false;
  };
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Where a Prisma client connects: a location to open, or a store already open. */
export type ClientOptions =
  | {
      /** `postgresql://…` on a server, or `pglite:<directory>` / `pglite:memory` (see `StoreLocation` in location.ts). */
      databaseUrl: string;
      /**
       * Connections in the pool (PostgreSQL only).
       * @default 10
       */
      poolSize?: number;
      store?: never;
    }
  | {
      /** A store the caller opened (e.g. to migrate it first), and closes after `$disconnect()`. */
      store: OpenStore;
      databaseUrl?: never;
      poolSize?: never;
    };

/** How a client's transactions wait for a connection of the store. */
export interface ClientSettings {
  adapter: SqlMigrationAwareDriverAdapterFactory;
  /**
   * PGlite's one connection is held for seconds by a long transaction at times (a health model's
   * training): waiting for it is no failure. A PostgreSQL pool keeps Prisma's default (2 s).
   */
  transactionOptions?: { maxWait: number };
}

/** How long a transaction waits for the one connection of a PGlite store, in ms. */
const PGLITE_MAX_WAIT_MS = 60_000;

function settingsOf(store: OpenStore): ClientSettings {
  return store.engine === 'pglite' ? { adapter: store.adapter, transactionOptions: { maxWait: PGLITE_MAX_WAIT_MS } } : { adapter: store.adapter };
}

/**
 * A generated Prisma client on a store. The caller owns it and calls `$disconnect()`, which also
 * closes the store when this function opened it (for PGlite, the database itself: the client
 * cannot be used afterwards). The same generated client and SQL serve PostgreSQL and PGlite.
 */
export function prismaClient<C extends { $disconnect(): Promise<void> }>(make: (settings: ClientSettings) => C, options: ClientOptions): C {
  if (options.store) return make(settingsOf(options.store));
  const store = openStore(options.databaseUrl, { poolSize: options.poolSize });
  const client = make(settingsOf(store));
  const disconnect = client.$disconnect.bind(client);
  client.$disconnect = async () => {
    try {
      await disconnect();
    } finally {
      await store.close();
    }
  };
  return client;
}

/** Runs `run` on a client opened for it (`prismaClient`), then disconnects it, closing the store it opened. */
export async function withClient<C extends { $disconnect(): Promise<void> }, T>(client: C, run: (client: C) => Promise<T>): Promise<T> {
  try {
    return await run(client);
  } finally {
    await client.$disconnect();
  }
}

/** Whether the store answers a query now: `database` in a service's `/readyz`. */
export function storeAnswers(db: { $queryRawUnsafe(query: string): Promise<unknown> }): Promise<boolean> {
  return db.$queryRawUnsafe('SELECT 1').then(
    () => true,
    () => false,
  );
}
