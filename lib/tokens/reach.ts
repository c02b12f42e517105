import type { Scope } from './scopes.ts';
import { matchesSelector, selectorWhere, type TwinSelector } from './selector.ts';
import type { VerifiedToken } from './tokens.ts';

/** Which twins of which organizations a caller's tokens reach with one scope, across the network. */
export type Reach = ReadonlyMap<string, 'all' | readonly TwinSelector[]>;

/**
 * What a caller's tokens let it do with a scope: every twin of an organization whose member
 * it is, and what valid grants select at the others (revoked tokens are the caller's to leave out).
 */
export function reachOf(tokens: readonly VerifiedToken[], scope: Scope): Reach {
  const reach = new Map<string, 'all' | TwinSelector[]>();
  for (const token of tokens) {
    if (!token.scopes.includes(scope)) continue;
    const current = reach.get(token.org);
    if (token.kind === 'member' || current === 'all') reach.set(token.org, 'all');
    else reach.set(token.org, [...(current ?? []), token.selector]);
  }
  return reach;
}

/** Whether a reach covers one twin (global id). */
export function canReach(reach: Reach, twin: { id: string; org: string; kind: string; tags: readonly string[] }): boolean {
  const selectors = reach.get(twin.org);
  return selectors === 'all' || (selectors?.some((selector) => matchesSelector(selector, twin)) ?? false);
}

/** The twins a reach covers, as a Prisma filter over a model with `id`, `org`, `kind`, `tags`. */
export function reachWhere(reach: Reach) {
  const orgs = [...reach].map(([org, selectors]) =>
    selectors === 'all' ? { org } : { AND: [{ org }, { OR: selectors.map((selector) => selectorWhere(selector)) }] },
  );
  return orgs.length > 0 ? { OR: orgs } : { id: { in: [] as string[] } };
}
