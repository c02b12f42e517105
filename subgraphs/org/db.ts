import { type OpenStore, openStore } from '../../lib/db/store.ts';
import { PrismaClient } from '../../prisma/generated/org/client.ts';

export type OrgDb = InstanceType<typeof PrismaClient>;

/** Options of an organization store connection: a location to open, or a store already open. */
export type OrgDbOptions =
  | {
      /**
       * Where this organization's own database is: `postgresql://…` on a server, or
       * `pglite:<directory>` / `pglite:memory` for an embedded PGlite database (see `StoreLocation`).
       */
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

/**
 * Opens the organization store. The caller owns it and calls `$disconnect()`, which also closes
 * the store when this function opened it (for PGlite, the database itself: the client cannot be
 * used afterwards). The same generated client and SQL serve PostgreSQL and PGlite.
 */
export function createOrgDb(options: OrgDbOptions): OrgDb {
  if (options.store) return new PrismaClient({ adapter: options.store.adapter });
  const store = openStore(options.databaseUrl, { poolSize: options.poolSize });
  const db = new PrismaClient({ adapter: store.adapter });
  const disconnect = db.$disconnect.bind(db);
  db.$disconnect = async () => {
    try {
      await disconnect();
    } finally {
      await store.close();
    }
  };
  return db;
}
