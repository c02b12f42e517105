import { prismaClient, withClient, type ClientOptions } from '../../lib/db/store.ts';
import { PrismaClient } from '../../prisma/generated/org/client.ts';

export type OrgDb = InstanceType<typeof PrismaClient>;

/** Opens an organization's store (see `prismaClient` for ownership). */
export function createOrgDb(options: ClientOptions): OrgDb {
  return prismaClient((settings) => new PrismaClient(settings), options);
}

/** Runs a command against an organization's store, then closes it. */
export function withOrgDb<T>(config: { databaseUrl: string }, run: (db: OrgDb) => Promise<T>): Promise<T> {
  return withClient(createOrgDb({ databaseUrl: config.databaseUrl, poolSize: 2 }), run);
}
