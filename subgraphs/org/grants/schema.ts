import { connection, decodeCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import { revokeToken } from '../auth/authenticator.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import { partnerReach, selectedTwins, type ReachedTwin } from './reach.ts';
import { getGrant, issueGrant, issueMemberToken, tokenWhere, type TokenRow } from './store.ts';

/** Administration of grants and member tokens, in the organization's namespace. */
export function grantsSdl(n: OrgNames): string {
  return /* GraphQL */ `
  "Which twins a grant reaches: given fields must all match; values within a field are alternatives."
  type TwinSelector @shareable {
    ids: [ID!]!
    "Patterns <org>:<prefix>* or <org>:*<suffix>."
    idGlobs: [String!]!
    kinds: [String!]!
    tags: [String!]!
  }

  input TwinSelectorInput {
    ids: [ID!]
    idGlobs: [String!]
    kinds: [String!]
    tags: [String!]
  }

  "Access to some of this organization's twins, given to a partner organization."
  type Grant @shareable {
    jti: ID!
    partner: String!
    scopes: [String!]!
    selector: TwinSelector!
    note: String
    issuedBy: String!
    issuedAt: DateTime!
    expiresAt: DateTime!
    revokedAt: DateTime
    revokedBy: String
    "Neither revoked nor expired."
    active: Boolean!
  }

  type IssuedGrant @shareable {
    "The grant token. It is shown once and not kept: hand it to the partner now."
    token: String!
    grant: Grant!
  }

  type IssuedMemberToken @shareable {
    "Shown once and not kept."
    token: String!
    jti: ID!
    subject: String!
    scopes: [String!]!
    expiresAt: DateTime!
  }

  type GrantEdge @shareable {
    cursor: String!
    node: Grant!
  }

  type GrantConnection @shareable {
    edges: [GrantEdge!]!
    pageInfo: PageInfo!
  }

  input GrantInput {
    "Slug of the partner organization."
    partner: String!
    "Any of twins:read, telemetry:read, twins:subscribe, twins:write, telemetry:write."
    scopes: [String!]!
    selector: TwinSelectorInput!
    expiresAt: DateTime!
    note: String
  }

  input MemberTokenInput {
    "Who the token is for, e.g. alice or svc:dashboard."
    subject: String!
    "admin, operator or viewer; or give scopes."
    role: String
    scopes: [String!]
    expiresAt: DateTime!
  }

  "A token of one of the organization's own people or services. The token itself is never kept."
  type MemberToken @shareable {
    jti: ID!
    subject: String!
    "admin, operator or viewer; null for a token given explicit scopes."
    role: String
    scopes: [String!]!
    issuedBy: String!
    issuedAt: DateTime!
    expiresAt: DateTime!
    revokedAt: DateTime
    revokedBy: String
    "Neither revoked nor expired."
    active: Boolean!
  }

  type MemberTokenEdge @shareable {
    cursor: String!
    node: MemberToken!
  }

  type MemberTokenConnection @shareable {
    edges: [MemberTokenEdge!]!
    pageInfo: PageInfo!
  }

  input MemberTokenFilter {
    subject: String
    "Only tokens that are (true) or are not (false) active."
    active: Boolean
  }

  "The twins a selector selects, in id order, a page at a time."
  type ${n.twin}Selection {
    "How many twins it selects in all."
    total: Int!
    edges: [${n.edge}!]!
    pageInfo: PageInfo!
  }

  "A twin a partner reaches, with the scopes and the grants that reach it."
  type ${n.twin}Reach {
    twin: ${n.twin}!
    scopes: [String!]!
    grantJtis: [ID!]!
  }

  type ${n.twin}ReachEdge {
    cursor: String!
    node: ${n.twin}Reach!
  }

  type ${n.twin}ReachConnection {
    "How many twins the partner reaches in all."
    total: Int!
    edges: [${n.twin}ReachEdge!]!
    pageInfo: PageInfo!
  }

  input GrantFilter {
    partner: String
    "Only grants that are (true) or are not (false) active."
    active: Boolean
  }

  extend type ${n.query} {
    "Grants issued by ${n.slug}, newest first. Needs grants:admin."
    grants(filter: GrantFilter, first: Int! = 50, after: String): GrantConnection!
    grant(jti: ID!): Grant
    "Member tokens issued by ${n.slug}, newest first. Needs grants:admin."
    memberTokens(filter: MemberTokenFilter, first: Int! = 50, after: String): MemberTokenConnection!
    "The twins a grant with this selector would reach, matched as partners' requests are. Needs grants:admin."
    twinsSelectedBy(selector: TwinSelectorInput!, first: Int! = 50, after: String): ${n.twin}Selection!
    "What a partner reaches now with all its active grants, matched as its requests are. Needs grants:admin."
    partnerView(partner: String!, first: Int! = 50, after: String): ${n.twin}ReachConnection!
  }

  extend type ${n.mutation} {
    issueGrant(input: GrantInput!): IssuedGrant!
    "Revokes a grant: it stops working at once."
    revokeGrant(jti: ID!): Grant!
    issueMemberToken(input: MemberTokenInput!): IssuedMemberToken!
    revokeMemberToken(jti: ID!): ID!
  }
`;
}

const CURSOR = 'grant';
const MEMBER_CURSOR = 'member';
const SELECTED_CURSOR = 'selected';
const REACH_CURSOR = 'reach';

/** Arguments of a page. */
interface PageArgs {
  first: number;
  after?: string;
}

function issuerOf(ctx: OrgContext) {
  return { db: ctx.db, keys: ctx.keys, org: ctx.names.slug };
}

/** A token as listed: neither revoked nor expired is active. */
const tokenView = (row: TokenRow) => ({ ...row, active: row.revokedAt === null && row.expiresAt > new Date() });

function grantView(row: TokenRow) {
  return { ...tokenView(row), partner: row.subject };
}

/** A page's size and start, checked. */
const pageArgs = (ctx: OrgContext, args: PageArgs, cursor: string) => ({
  first: pageSize(args.first, ctx.limits.maxPageSize),
  after: args.after ? decodeCursor(cursor, args.after) : null,
});

/** Newest first, a page of tokens of one kind. */
async function tokenPage(ctx: OrgContext, kind: 'GRANT' | 'MEMBER', filter: Parameters<typeof tokenWhere>[1], args: PageArgs, cursor: string) {
  const { first, after } = pageArgs(ctx, args, cursor);
  const rows = await ctx.db.token.findMany({
    where: tokenWhere(kind, filter),
    orderBy: [{ issuedAt: 'desc' }, { jti: 'desc' }],
    take: first + 1,
    ...(after ? { cursor: { jti: after }, skip: 1 } : {}),
  });
  return pageOf(rows, first);
}

export function grantsResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.query]: {
      grants: async (_: unknown, args: PageArgs & { filter?: { partner?: string; active?: boolean } }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const page = await tokenPage(ctx, 'GRANT', { subject: args.filter?.partner, active: args.filter?.active }, args, CURSOR);
        return connection(CURSOR, { ...page, rows: page.rows.map(grantView) }, (grant) => grant.jti);
      },
      grant: async (_: unknown, args: { jti: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        return grantView(await getGrant(ctx.db, args.jti));
      },
      memberTokens: async (_: unknown, args: PageArgs & { filter?: { subject?: string; active?: boolean } }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const page = await tokenPage(ctx, 'MEMBER', args.filter, args, MEMBER_CURSOR);
        return connection(MEMBER_CURSOR, { ...page, rows: page.rows.map(tokenView) }, (token) => token.jti);
      },
      twinsSelectedBy: async (_: unknown, args: PageArgs & { selector: unknown }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const { total, ...page } = await selectedTwins(ctx, args.selector, pageArgs(ctx, args, SELECTED_CURSOR));
        return { total, ...connection(SELECTED_CURSOR, page, (twin) => twin.id) };
      },
      partnerView: async (_: unknown, args: PageArgs & { partner: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const { total, ...page } = await partnerReach(ctx, args.partner, pageArgs(ctx, args, REACH_CURSOR));
        return { total, ...connection(REACH_CURSOR, page, (twin) => twin.id) };
      },
    },
    [`${n.twin}Reach`]: {
      twin: (reached: ReachedTwin, _: unknown, ctx: OrgContext) => ctx.twins.load(reached.id),
    },
    [n.mutation]: {
      issueGrant: async (_: unknown, args: { input: unknown }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const { token, grant } = await issueGrant(issuerOf(ctx), ctx.access.principal.subject, args.input);
        return { token, grant: grantView(grant) };
      },
      revokeGrant: async (_: unknown, args: { jti: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const grant = await revokeToken(ctx.db, ctx.names.slug, args.jti, 'GRANT', ctx.access.principal.subject);
        // Answer only once this replica refuses the grant: the admin's next request must see it.
        await ctx.auth.sync();
        return grantView(grant);
      },
      issueMemberToken: (_: unknown, args: { input: unknown }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        return issueMemberToken(issuerOf(ctx), ctx.access.principal.subject, args.input);
      },
      revokeMemberToken: async (_: unknown, args: { jti: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const { jti } = await revokeToken(ctx.db, ctx.names.slug, args.jti, 'MEMBER', ctx.access.principal.subject);
        await ctx.auth.sync();
        return jti;
      },
    },
  };
}
