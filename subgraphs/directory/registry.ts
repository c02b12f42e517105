import { z } from 'zod';
import { values } from '../../lib/config.ts';
import { ErrorCode, fail } from '../../lib/errors.ts';
import { typePrefix } from '../../lib/ids.ts';
import { parseInput } from '../../lib/validation.ts';
import type { MemberStatus, Organization } from '../../prisma/generated/directory/client.ts';
import { notify } from './cache.ts';
import type { DirectoryDb } from './db.ts';

export type { MemberStatus, Organization };

const organizationInput = z.object({
  slug: values.slug,
  name: z.string().trim().min(1).max(200),
  subgraphUrl: values.httpUrl,
  jwksUrl: values.httpUrl,
});

/** Registers an organization as `PENDING`: gateways compose it, the directory does not hand out its twins yet. */
export async function addOrganization(db: DirectoryDb, input: unknown): Promise<Organization> {
  const data = parseInput(organizationInput, input, 'input');
  return db.$transaction(async (tx) => {
    if (await tx.organization.findUnique({ where: { slug: data.slug } })) {
      throw fail(ErrorCode.ALREADY_EXISTS, `Organization ${data.slug} is already registered.`, { slug: data.slug });
    }
    const member = await tx.organization.create({ data });
    await notify(tx, [data.slug]);
    return member;
  });
}

/** Moves an organization to `ACTIVE` or `SUSPENDED`. */
export async function setStatus(db: DirectoryDb, slug: string, status: MemberStatus): Promise<Organization> {
  return db.$transaction(async (tx) => {
    const { count } = await tx.organization.updateMany({ where: { slug }, data: { status } });
    if (count === 0) throw fail(ErrorCode.NOT_FOUND, `No organization ${slug}.`, { slug });
    await notify(tx, [slug]);
    return tx.organization.findUniqueOrThrow({ where: { slug } });
  });
}

/** The GraphQL type of an organization's twins. */
export function twinTypeName(slug: string): string {
  return `${typePrefix(slug)}Twin`;
}

/**
 * The registry as one process sees it, refreshed when told of a change. Gateways compose
 * `PENDING` and `ACTIVE` members; the directory hands out twins of `ACTIVE` members only.
 */
export class Registry {
  private members: Organization[] = [];

  constructor(private readonly db: DirectoryDb) {}

  /** Re-reads the registry; true when it changed. */
  async refresh(): Promise<boolean> {
    const members = await this.db.organization.findMany({ orderBy: { slug: 'asc' } });
    const changed = JSON.stringify(members) !== JSON.stringify(this.members);
    this.members = members;
    return changed;
  }

  all(): readonly Organization[] {
    return this.members;
  }

  /** Members whose twins the directory hands out. */
  active(): Organization[] {
    return this.members.filter((member) => member.status === 'ACTIVE');
  }

  /** Members gateways compose (not suspended). */
  composed(): Organization[] {
    return this.members.filter((member) => member.status !== 'SUSPENDED');
  }

  get(slug: string): Organization | undefined {
    return this.members.find((member) => member.slug === slug);
  }

  /** A member whose tokens and grants count: one not suspended. */
  unsuspendedMember(slug: string): Organization | undefined {
    const member = this.get(slug);
    return member?.status === 'SUSPENDED' ? undefined : member;
  }
}
