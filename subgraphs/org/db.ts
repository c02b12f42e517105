import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../prisma/generated/org/client.ts';

export type OrgDb = InstanceType<typeof PrismaClient>;

/** Options of an organization store connection. */
export interface OrgDbOptions {
  /** `postgresql://…` of this organization's own database. */
  databaseUrl: string;
  /**
   * Connections in the pool.
   * @default 10
   */
  poolSize?: number;
}

/** Opens the organization store. The caller owns it and calls `$disconnect()`. */
export function createOrgDb(options: OrgDbOptions): OrgDb {
  const adapter = new PrismaPg({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
  return new PrismaClient({ adapter });
}
