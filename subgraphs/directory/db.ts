import { prismaClient, type ClientOptions } from '../../lib/db/store.ts';
import { PrismaClient } from '../../prisma/generated/directory/client.ts';

export type DirectoryDb = InstanceType<typeof PrismaClient>;

/** Opens a network's directory store (see `prismaClient` for ownership). */
export function createDirectoryDb(options: ClientOptions): DirectoryDb {
  return prismaClient((adapter) => new PrismaClient({ adapter }), options);
}
