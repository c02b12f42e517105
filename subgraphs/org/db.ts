import { prismaClient, type ClientOptions } from '../../lib/db/store.ts';
import { PrismaClient } from '../../prisma/generated/org/client.ts';

export type OrgDb = InstanceType<typeof PrismaClient>;

/** Opens an organization's store (see `prismaClient` for ownership). */
export function createOrgDb(options: ClientOptions): OrgDb {
  return prismaClient((adapter) => new PrismaClient({ adapter }), options);
}
