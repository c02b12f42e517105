import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../prisma/generated/directory/client.ts';

export type DirectoryDb = InstanceType<typeof PrismaClient>;

/** Opens the directory store. The caller owns it and calls `$disconnect()`. */
export function createDirectoryDb(options: { databaseUrl: string; poolSize?: number }): DirectoryDb {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 }) });
}
