import { connection, decodeCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import { revokeToken } from '../auth/authenticator.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import { getGrant, grantWhere, issueGrant, issueMemberToken, type TokenRow } from './store.ts';

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

  input GrantFilter {
    partner: String
    "Only grants that are (true) or are not (false) active."
    active: Boolean
  }

  extend type ${n.query} {
    "Grants issued by ${n.slug}, newest first. Needs grants:admin."
    grants(filter: GrantFilter, first: Int! = 50, after: String): GrantConnection!
    grant(jti: ID!): Grant
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

function issuerOf(ctx: OrgContext) {
  return { db: ctx.db, keys: ctx.keys, org: ctx.names.slug };
}

function grantView(row: TokenRow) {
  return { ...row, partner: row.subject, active: row.revokedAt === null && row.expiresAt > new Date() };
}

export function grantsResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.query]: {
      grants: async (_: unknown, args: { filter?: { partner?: string; active?: boolean }; first: number; after?: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const first = pageSize(args.first, ctx.limits.maxPageSize);
        const rows = await ctx.db.token.findMany({
          where: grantWhere(args.filter),
          orderBy: [{ issuedAt: 'desc' }, { jti: 'desc' }],
          take: first + 1,
          ...(args.after ? { cursor: { jti: decodeCursor(CURSOR, args.after) }, skip: 1 } : {}),
        });
        return connection(CURSOR, pageOf(rows.map(grantView), first), (grant) => grant.jti);
      },
      grant: async (_: unknown, args: { jti: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        return grantView(await getGrant(ctx.db, args.jti));
      },
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
