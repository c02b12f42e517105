import { buildSubgraphSchema } from '@apollo/subgraph';
import DataLoader from 'dataloader';
import { z } from 'zod';
import { parse, type GraphQLSchema } from 'graphql';
import { connection, decodeCursor, pageOf, pageSize } from '../../lib/cursor.ts';
import { textWhere } from '../../lib/db/like.ts';
import { ErrorCode, fail, TwinxError } from '../../lib/errors.ts';
import { mergeResolvers, type GraphQLResolverMap } from '../../lib/graphql/resolvers.ts';
import { twinContractFields, twinScalarResolvers, twinValueTypesSdl } from '../../lib/graphql/twin-types.ts';
import { MAX_SUPPLIERS, parseTwinId, requireTwinId } from '../../lib/ids.ts';
import type { SupplierLoss } from '../../lib/impact/types.ts';
import type { Prisma } from '../../prisma/generated/directory/client.ts';
import type { CatalogEntry, DirectoryCache } from './cache.ts';
import type { DirectoryDb } from './db.ts';
import { addOrganization, setStatus, twinTypeName, type MemberStatus, type Organization, type Registry } from './registry.ts';
import { canReach, reachWhere, type Reach } from '../../lib/tokens/reach.ts';

/** Everything a directory resolver needs for one request. */
export interface DirectoryContext {
  db: DirectoryDb;
  /** Catalog entries by id and revoked tokens, remembered in step with the store. */
  cache: DirectoryCache;
  registry: Registry;
  /** What the caller's tokens let it see. */
  reach: Reach;
  /**
   * The members whose twins this request may be handed: the active ones, narrowed to those the
   * calling gateway composed when it says which (`twinx-composed`).
   */
  handedOut: ReadonlySet<string>;
  /** The network operator's administrator, when the request carries such a token. */
  operator: string | null;
  /** Registry changed: refresh, rebuild the schema, tell the gateways. */
  membershipChanged: () => Promise<void>;
  /** Catalog entries by id, batched per request, whether or not the caller may see them. */
  entries: DataLoader<string, CatalogEntry | null>;
  /** By twin id, the ids of the twins it supplies that the caller may see, in id order; batched per request. */
  supplied: DataLoader<string, string[]>;
  /** Verifies an organization's impact statement (lib/impact/statement.ts) with its keys. */
  verifyStatement: (statement: string) => Promise<{ org: string; outputs: SupplierLoss[] }>;
}

/** Largest page of `twins`. */
const MAX_PAGE_SIZE = 500;
/** Most impact statements `impactRecipients` takes at once (each is bounded by the token size limit of statements). */
const MAX_STATEMENTS = 100;

const link = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires", "@shareable"])`;

/** The organization-owned fields as the directory declares them on each member's type. */
const external = twinContractFields.map((field) => `${field} @external`).join('\n    ');

function stubSdl(member: Pick<Organization, 'slug'>): string {
  return /* GraphQL */ `
  type ${twinTypeName(member.slug)} implements Twin @key(fields: "id") {
    id: ID!
    org: Organization!
    ${external}
    suppliedByIds: [ID!]! @external
    suppliedBy: [Twin!] @requires(fields: "suppliedByIds")
    supplies: [Twin!]!
  }`;
}

/**
 * The directory's SDL, generated from the registry: the `Twin` entity interface, one stub per
 * composed member (federation-design.md, "The working shape"), the network-wide root fields and
 * the registry's administration. Gateways compose it for the members they accepted.
 */
export function directorySdl(members: readonly Pick<Organization, 'slug'>[]): string {
  return /* GraphQL */ `
  ${link}
  ${twinValueTypesSdl}

  "A digital twin anywhere in the network. Its id says which organization keeps it."
  interface Twin @key(fields: "id") {
    id: ID!
    org: Organization!
    ${twinContractFields.join('\n    ')}
    "The twins, at any organization, that supply this one (those the caller may see). Null while the twin's organization is down: the list is its to give."
    suppliedBy: [Twin!]
    "The twins, at any organization, this one supplies (those the caller may see)."
    supplies: [Twin!]!
  }
  ${members.map(stubSdl).join('\n')}

  enum MemberStatus {
    PENDING
    ACTIVE
    SUSPENDED
  }

  type Organization {
    slug: ID!
    name: String!
    status: MemberStatus!
  }

  type TwinEdge {
    cursor: String!
    node: Twin!
  }

  type TwinConnection {
    edges: [TwinEdge!]!
    pageInfo: PageInfo!
  }

  "Who is next in an impact question: the organizations a twin's lost output reaches."
  type ImpactRecipient {
    "A twin whose lost output a statement gives."
    supplierId: ID!
    "The active members, other than the twin's own organization, with a twin it supplies."
    orgs: [String!]!
  }

  input TwinFilter {
    org: String
    kind: String
    "Twins carrying every one of these tags."
    tags: [String!]
    "Case-insensitive substring of the id or name."
    text: String
  }

  input OrganizationInput {
    slug: ID!
    name: String!
    "The organization's GraphQL endpoint."
    subgraphUrl: String!
    "Where the organization publishes its public keys."
    jwksUrl: String!
  }

  type Query {
    "Twins the caller may see, across the network, in id order."
    twins(filter: TwinFilter, first: Int! = 50, after: String): TwinConnection!
    "A twin by global id; null when it does not exist or is not visible to the caller."
    twin(id: ID!): Twin
    "The network's active members."
    organizations: [Organization!]!
    """
    For each twin of the given impact statements (signed by their organizations), the member
    organizations with a twin it supplies: organizations only, never their twins, which each
    organization shows or not as the caller's grants allow.
    """
    impactRecipients(statements: [String!]!): [ImpactRecipient!]!
  }

  type Mutation {
    "Administration of the network's membership (network operator only)."
    network: NetworkMutation!
  }

  type NetworkMutation {
    "Registers an organization as PENDING: gateways compose it; its twins are not handed out yet."
    addOrganization(input: OrganizationInput!): Organization!
    activateOrganization(slug: ID!): Organization!
    suspendOrganization(slug: ID!): Organization!
    "Every member, whatever its status."
    organizations: [Organization!]!
  }
`;
}

const CURSOR = 'twin';

interface TwinRef {
  __typename: string;
  id: string;
}

function refOf(id: string): TwinRef {
  return { __typename: twinTypeName(parseTwinId(id)!.org), id };
}

/** Catalog entries the caller may see, of members handed out only. */
function visible(ctx: Pick<DirectoryContext, 'reach' | 'handedOut'>): Prisma.CatalogTwinWhereInput {
  return { AND: [reachWhere(ctx.reach), { org: { in: [...ctx.handedOut] } }] };
}

/** The same rule for entries already loaded: lookups by id stay plain primary-key reads. */
function visibleEntry(ctx: DirectoryContext, entry: CatalogEntry): boolean {
  return ctx.handedOut.has(entry.org) && canReach(ctx.reach, entry);
}

/** A request's context: the given parts and the request's loaders. */
export function createDirectoryContext(base: Omit<DirectoryContext, 'entries' | 'supplied'>): DirectoryContext {
  return {
    ...base,
    entries: new DataLoader((ids) => base.cache.catalogEntries(ids)),
    supplied: new DataLoader(async (ids) => {
      const rows = await base.db.catalogTwin.findMany({
        where: { AND: [visible(base), { suppliedByIds: { hasSome: [...ids] } }] },
        orderBy: { id: 'asc' },
        select: { id: true, suppliedByIds: true },
      });
      return ids.map((id) => rows.filter((row) => row.suppliedByIds.includes(id)).map((row) => row.id));
    }),
  };
}

function requireOperator(ctx: DirectoryContext): void {
  if (ctx.operator === null) throw fail(ErrorCode.FORBIDDEN, 'Only the network operator administers membership.');
}

function organizationView(member: Organization) {
  return { slug: member.slug, name: member.name, status: member.status };
}

async function changeMembership(ctx: DirectoryContext, change: () => Promise<Organization>) {
  requireOperator(ctx);
  const member = await change();
  await ctx.membershipChanged();
  return organizationView(member);
}

/** A refused statement's error, saying which statement it was. */
function statementError(error: unknown, index: number): unknown {
  return error instanceof TwinxError ? new TwinxError(error.code, error.message, { ...error.details, statement: index }) : error;
}

/**
 * The organizations each output twin of the statements supplies, found in one read of the catalog
 * (the GIN index on `suppliedByIds`): active members handed out, other than the twin's own.
 */
async function impactRecipients(ctx: DirectoryContext, statements: string[]): Promise<{ supplierId: string; orgs: string[] }[]> {
  if (statements.length > MAX_STATEMENTS)
    throw fail(ErrorCode.BATCH_TOO_LARGE, `At most ${MAX_STATEMENTS} impact statements at once.`, { limit: MAX_STATEMENTS, actual: statements.length });
  const verified = await Promise.all(
    statements.map((statement, index) => ctx.verifyStatement(statement).catch((error: unknown) => Promise.reject(statementError(error, index)))),
  );
  const recipients = new Map(verified.flatMap(({ outputs }) => outputs.map((output) => [output.supplierId, new Set<string>()] as const)));
  if (recipients.size === 0) return [];
  const customers = await ctx.db.catalogTwin.findMany({
    where: { suppliedByIds: { hasSome: [...recipients.keys()] }, org: { in: [...ctx.handedOut] } },
    select: { org: true, suppliedByIds: true },
  });
  for (const { org, suppliedByIds } of customers)
    for (const supplierId of suppliedByIds) if (parseTwinId(supplierId)?.org !== org) recipients.get(supplierId)?.add(org);
  return [...recipients].map(([supplierId, orgs]) => ({ supplierId, orgs: [...orgs].sort() }));
}

/** A twin's suppliers as a gateway passes them on from the twin's organization: that organization's word, bounded as it is there. */
const supplierIds = z.array(z.string()).max(MAX_SUPPLIERS);

function directoryResolvers(members: readonly Organization[]): GraphQLResolverMap<DirectoryContext> {
  const twinType = {
    org: (twin: TwinRef, _: unknown, ctx: DirectoryContext) => organizationView(ctx.registry.get(parseTwinId(twin.id)!.org)!),
    suppliedBy: async (twin: { suppliedByIds?: unknown }, _: unknown, ctx: DirectoryContext) => {
      const ids = supplierIds.safeParse(twin.suppliedByIds);
      if (!ids.success)
        throw fail(ErrorCode.INVALID_INPUT, `suppliedBy needs the twin's suppliedByIds in its representation, at most ${MAX_SUPPLIERS} ids.`, {
          field: 'suppliedByIds',
        });
      // Only twin ids are looked up (and remembered): anything else names no twin of the network.
      const entries = await Promise.all(ids.data.filter((id) => parseTwinId(id) !== null).map((id) => ctx.entries.load(id)));
      // The organization's order; ids of twins not (or no longer) in the network are dropped.
      return entries.flatMap((entry) => (entry && visibleEntry(ctx, entry) ? [refOf(entry.id)] : []));
    },
    supplies: async (twin: TwinRef, _: unknown, ctx: DirectoryContext) => (await ctx.supplied.load(twin.id)).map(refOf),
  };
  return {
    Twin: { __resolveReference: (ref: { id: string }) => refOf(ref.id) },
    ...Object.fromEntries(members.map((member) => [twinTypeName(member.slug), twinType])),
    Query: {
      twins: async (
        _: unknown,
        args: { filter?: { org?: string; kind?: string; tags?: string[]; text?: string }; first: number; after?: string },
        ctx: DirectoryContext,
      ) => {
        const first = pageSize(args.first, MAX_PAGE_SIZE);
        const { filter } = args;
        const where: Prisma.CatalogTwinWhereInput[] = [visible(ctx)];
        if (filter?.org) where.push({ org: filter.org });
        if (filter?.kind) where.push({ kind: filter.kind });
        if (filter?.tags?.length) where.push({ tags: { hasEvery: filter.tags } });
        if (filter?.text) where.push(textWhere(filter.text));
        if (args.after) where.push({ id: { gt: decodeCursor(CURSOR, args.after) } });
        const twins = (await ctx.cache.catalogIds({ AND: where }, first + 1)).map(refOf);
        return connection(CURSOR, pageOf(twins, first), (twin) => twin.id);
      },
      twin: async (_: unknown, args: { id: string }, ctx: DirectoryContext) => {
        requireTwinId(args.id, 'id');
        const entry = await ctx.entries.load(args.id);
        return entry && visibleEntry(ctx, entry) ? refOf(entry.id) : null;
      },
      organizations: (_: unknown, __: unknown, ctx: DirectoryContext) => ctx.registry.active().map(organizationView),
      impactRecipients: (_: unknown, args: { statements: string[] }, ctx: DirectoryContext) => impactRecipients(ctx, args.statements),
    },
    Mutation: { network: () => ({}) },
    NetworkMutation: {
      addOrganization: (_: unknown, args: { input: unknown }, ctx: DirectoryContext) => changeMembership(ctx, () => addOrganization(ctx.db, args.input)),
      activateOrganization: (_: unknown, args: { slug: string }, ctx: DirectoryContext) =>
        changeMembership(ctx, () => setStatus(ctx.db, args.slug, 'ACTIVE' satisfies MemberStatus)),
      suspendOrganization: (_: unknown, args: { slug: string }, ctx: DirectoryContext) =>
        changeMembership(ctx, () => setStatus(ctx.db, args.slug, 'SUSPENDED')),
      organizations: (_: unknown, __: unknown, ctx: DirectoryContext) => {
        requireOperator(ctx);
        return ctx.registry.all().map(organizationView);
      },
    },
  };
}

/** The directory's executable schema for the given composed members. */
export function directorySchema(members: readonly Organization[]): GraphQLSchema {
  return buildSubgraphSchema([
    { typeDefs: parse(directorySdl(members)), resolvers: mergeResolvers<DirectoryContext>(twinScalarResolvers, directoryResolvers(members)) },
  ]);
}
