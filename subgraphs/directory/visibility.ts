import type { TwinSelector } from '../../lib/tokens/selector.ts';
import { matchesSelector, selectorWhere } from '../../lib/tokens/selector.ts';
import type { VerifiedToken } from '../../lib/tokens/tokens.ts';
import type { Prisma } from '../../prisma/generated/directory/client.ts';

/** Which twins of which organizations a caller may see in the catalog (`twins:read`). */
export type Reach = ReadonlyMap<string, 'all' | readonly TwinSelector[]>;

/**
 * What a caller's tokens let it see: all twins of an organization whose member it is, and what
 * valid grants select at the others. Revoked grants count for nothing.
 */
export function reachOf(tokens: readonly VerifiedToken[], revoked: ReadonlySet<string>): Reach {
  const reach = new Map<string, 'all' | TwinSelector[]>();
  for (const token of tokens) {
    if (!token.scopes.includes('twins:read') || revoked.has(token.jti)) continue;
    const current = reach.get(token.org);
    if (token.kind === 'member' || current === 'all') reach.set(token.org, 'all');
    else reach.set(token.org, [...(current ?? []), token.selector]);
  }
  return reach;
}

/** The catalog entries a reach covers, as a Prisma filter. */
export function catalogWhere(reach: Reach): Prisma.CatalogTwinWhereInput {
  const orgs = [...reach].map(([org, selectors]): Prisma.CatalogTwinWhereInput =>
    selectors === 'all' ? { org } : { AND: [{ org }, { OR: selectors.map((selector) => selectorWhere(selector)) }] },
  );
  return orgs.length > 0 ? { OR: orgs } : { id: { in: [] } };
}

/** Whether a reach covers one catalog entry (the same rule as `catalogWhere`, in memory). */
export function canSee(reach: Reach, entry: { id: string; org: string; kind: string; tags: readonly string[] }): boolean {
  const selectors = reach.get(entry.org);
  return selectors === 'all' || (selectors?.some((selector) => matchesSelector(selector, entry)) ?? false);
}
