import { prismaClient, withClient, type ClientOptions } from '../../lib/db/store.ts';
import { PrismaClient } from '../../prisma/generated/directory/client.ts';

export type DirectoryDb = InstanceType<typeof PrismaClient>;

/** Opens a network's directory store (see `prismaClient` for ownership). */
export function createDirectoryDb(options: ClientOptions): DirectoryDb {
  return prismaClient((settings) => new PrismaClient(settings), options);
}

/** Runs a command against a network's directory store, then closes it. */
export function withDirectoryDb<T>(config: { databaseUrl: string }, run: (db: DirectoryDb) => Promise<T>): Promise<T> {
  return withClient(createDirectoryDb({ databaseUrl: config.databaseUrl, poolSize: 1 }), run);
}
