import { z } from 'zod';
import { pageOf, type Page } from '../../../lib/cursor.ts';
import { isValidSlug } from '../../../lib/ids.ts';
import { parseInput } from '../../../lib/validation.ts';
import { SCOPES, type Scope } from '../../../lib/tokens/scopes.ts';
import { selectorSchema, type TwinSelector } from '../../../lib/tokens/selector.ts';
import { Access } from '../access.ts';
import { partnerPrincipal, type GrantReach } from '../auth/authenticator.ts';
import type { OrgContext } from '../context.ts';
import { listTwins, type TwinRow } from '../twins/store.ts';
import { tokenWhere } from './store.ts';

/*
 * What grants reach of the organization's twins, for its admins. Nothing here matches twins
 * itself: a partner holding the grants is built as the authenticator builds one from their
 * tokens (partnerPrincipal), and its Access answers, the very check every partner request meets.
 */

/** The twins a selector selects, a page in id order, and how many in all. */
export async function selectedTwins(
  ctx: OrgContext,
  input: unknown,
  page: { first: number; after: string | null },
): Promise<Page<TwinRow> & { total: number }> {
  const selector: TwinSelector = parseInput(selectorSchema(ctx.names.slug), input, 'selector');
  // A grant of twins:read with this selector, to nobody in particular.
  const access = new Access(partnerPrincipal('', [{ jti: '', scopes: ['twins:read'], selector }]), ctx.names.slug);
  const [twins, total] = await Promise.all([listTwins(ctx.db, access, page), ctx.db.twin.count({ where: access.twinWhere('twins:read') })]);
  return { ...twins, total };
}

/** One twin a partner reaches: with which scopes, through which grants. */
export interface ReachedTwin {
  /** Local id. */
  id: string;
  scopes: Scope[];
  grantJtis: string[];
}

const partnerSchema = z.string().refine(isValidSlug, 'expected the slug of an organization');

/**
 * What a partner sees of the organization now: the twins its active grants (neither revoked nor
 * expired, as the authenticator refuses those) reach with any scope, each with the scopes and
 * grants that reach it. It assumes the partner presents all its grants at once, as the console
 * does; a grant whose signing key was retired is still counted, since a grant does not record its
 * key: retiring a key is meant for keys no live grant depends on.
 */
export async function partnerReach(
  ctx: OrgContext,
  partner: string,
  page: { first: number; after: string | null },
): Promise<Page<ReachedTwin> & { total: number }> {
  const slug = parseInput(partnerSchema, partner, 'partner');
  const rows = await ctx.db.token.findMany({ where: tokenWhere('GRANT', { subject: slug, active: true }), orderBy: { issuedAt: 'asc' } });
  const grants: GrantReach[] = rows.map((row) => ({ jti: row.jti, scopes: row.scopes as Scope[], selector: row.selector as unknown as TwinSelector }));
  const org = ctx.names.slug;
  const all = new Access(partnerPrincipal(slug, grants), org);
  const held = SCOPES.filter((scope) => all.principal.scopes.has(scope));
  if (held.length === 0) return { rows: [], hasNextPage: false, total: 0 };
  const each = grants.map((grant) => ({ jti: grant.jti, access: new Access(partnerPrincipal(slug, [grant]), org), scope: grant.scopes[0]! }));
  const reached = { OR: held.map((scope) => all.twinWhere(scope)) };
  const [twins, total] = await Promise.all([
    ctx.db.twin.findMany({
      where: { AND: [reached, page.after ? { id: { gt: page.after } } : {}] },
      select: { id: true, kind: true, tags: true },
      orderBy: { id: 'asc' },
      take: page.first + 1,
    }),
    ctx.db.twin.count({ where: reached }),
  ]);
  const reach = (twin: (typeof twins)[number]): ReachedTwin => ({
    id: twin.id,
    scopes: held.filter((scope) => all.allows(scope, twin)),
    grantJtis: each.filter((grant) => grant.access.allows(grant.scope, twin)).map((grant) => grant.jti),
  });
  const { rows: shown, hasNextPage } = pageOf(twins, page.first);
  return { rows: shown.map(reach), hasNextPage, total };
}
