import { connection, decodePositionCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import { auditWhere, type AuditFilter } from './log.ts';

/** The audit log of partners' accesses, for the organization's admins. */
export function auditSdl(n: OrgNames): string {
  return /* GraphQL */ `
  """
  A partner's access to twins: one request, allowed or refused with the reason, or identical
  accesses repeated over a short window (count, from at to lastAt). Most are seen by this
  organization itself; gateways report those that never reach it (source).
  """
  type AuditEvent @shareable {
    id: ID!
    "When it happened; for a row standing for several accesses, the first of them."
    at: DateTime!
    "The last of the accesses a row stands for; null for one request."
    lastAt: DateTime
    "How many identical accesses the row stands for: 1 for one request."
    count: Int!
    "The partner organization. For a refused token, the partner it claims (? when it names none; * for many at once, when a flood of them is summed up)."
    partner: String!
    "The grants the partner presented."
    grantJtis: [ID!]!
    """
    read or write (this organization's twins, in a request); deliver (events of the twins sent
    to the partner's subscription by a gateway); authenticate (refused before reaching any twin,
    e.g. an expired, tampered or revoked grant).
    """
    action: String!
    operation: String
    twinIds: [ID!]!
    allowed: Boolean!
    "The error code the partner got, when refused."
    reason: String
    "Who saw the access: null for this organization itself, gateway:<name> for a gateway that delivered events or refused a token."
    source: String
    "False when partner and grantJtis are only what a refused token claimed: a lead, never proof (anyone can write a token that names a partner)."
    claimsVerified: Boolean!
  }

  type AuditEventEdge @shareable {
    cursor: String!
    node: AuditEvent!
  }

  type AuditEventConnection @shareable {
    edges: [AuditEventEdge!]!
    pageInfo: PageInfo!
  }

  input AuditFilter {
    partner: String
    twinId: ID
    grantJti: ID
    from: DateTime
    to: DateTime
    allowed: Boolean
  }

  extend type ${n.query} {
    "Partners' accesses to ${n.slug}'s twins, newest first. Needs audit:read."
    auditEvents(filter: AuditFilter, first: Int! = 50, after: String): AuditEventConnection!
  }
`;
}

const CURSOR = 'audit';

export function auditResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.query]: {
      auditEvents: async (_: unknown, args: { filter?: AuditFilter; first: number; after?: string }, ctx: OrgContext) => {
        ctx.access.require('audit:read');
        const first = pageSize(args.first, ctx.limits.maxPageSize);
        const after = args.after ? decodePositionCursor(CURSOR, args.after) : null;
        // What this replica has recorded so far is part of the answer.
        await ctx.audit.flush();
        const rows = await ctx.db.auditEvent.findMany({
          where: { AND: [auditWhere(args.filter), after === null ? {} : { id: { lt: BigInt(after) } }] },
          orderBy: { id: 'desc' },
          take: first + 1,
        });
        const events = rows.map((row) => ({ ...row, id: String(row.id) }));
        return connection(CURSOR, pageOf(events, first), (event) => event.id);
      },
    },
  };
}
