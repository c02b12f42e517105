import { defaultFieldResolver, isObjectType, type GraphQLSchema } from 'graphql';
import { connection, decodeCursor, pageSize } from '../../../lib/cursor.ts';
import { twinContractFields } from '../../../lib/graphql/twin-types.ts';
import { globalTwinId } from '../../../lib/ids.ts';
import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import {
  createTwin,
  deleteTwin,
  linkSupplier,
  listTwins,
  localIdOf,
  removeMetric,
  unlinkSupplier,
  updateTwin,
  type TwinListFilter,
  type TwinRow,
} from './store.ts';

/** The organization's twin entity, its namespaced root fields and twin mutations. */
export function twinsSdl(n: OrgNames): string {
  return /* GraphQL */ `
  type Query {
    "${n.slug}'s twins."
    ${n.field}: ${n.query}!
  }

  type Mutation {
    "Changes to ${n.slug}'s twins."
    ${n.field}: ${n.mutation}!
  }

  type ${n.query} {
    "A twin by global id; null when it does not exist or is not visible to the caller."
    twin(id: ID!): ${n.twin}
    "Twins in id order, a page at a time."
    twins(filter: TwinListFilter, first: Int! = 50, after: String): ${n.connection}!
  }

  type ${n.connection} {
    edges: [${n.edge}!]!
    pageInfo: PageInfo!
  }

  type ${n.edge} {
    cursor: String!
    node: ${n.twin}!
  }

  "A digital twin kept by ${n.slug}. Fields other than ids are nullable so that, in the network graph, an organization being down yields partial data, not none."
  type ${n.twin} @key(fields: "id") {
    "Global id: ${n.slug}:<local-id>."
    id: ID!
    ${twinContractFields.join('\n    ')}
    "Whether the network's twin catalog lists this twin (name, kind, tags, suppliers)."
    listed: Boolean
    attributes: JSON
    "Global ids of the twins (here or at other organizations) that supply this one."
    suppliedByIds: [ID!]!
    createdAt: DateTime
    updatedAt: DateTime
    "What the twin declares for OEE; null when it produces no counted units."
    production: ProductionDeclaration
  }

  input ProductionInput {
    "Units per hour at the ideal cycle time."
    idealRatePerHour: Float!
    "Metric counting every unit produced: a cumulative counter (a drop is a reset)."
    totalCountMetric: String!
    "Metric counting good units: a cumulative counter."
    goodCountMetric: String!
  }

  input TwinListFilter {
    kind: String
    "Twins carrying every one of these tags."
    tags: [String!]
    "Case-insensitive substring of the id or name."
    text: String
  }

  input LocationInput {
    site: String
    line: String
    latitude: Float
    longitude: Float
  }

  input MetricInput {
    name: String!
    unit: String!
    "Lower bound of the normal range."
    min: Float
    "Upper bound of the normal range."
    max: Float
  }

  input TwinInput {
    "Global id of the new twin: <org>:<local-id>."
    id: ID!
    name: String!
    kind: String!
    description: String
    tags: [String!]
    attributes: JSON
    location: LocationInput
    suppliedByIds: [ID!]
    metrics: [MetricInput!]
    "Listed in the network's twin catalog (default true)."
    listed: Boolean
    "Its counters must be among metrics."
    production: ProductionInput
    "What its suppliers deliver: each supplier among suppliedByIds."
    supply: [SupplyLinkInput!]
    capacity: CapacityInput
  }

  "Fields to change; absent fields stay. Metrics listed are added or updated by name."
  input TwinPatch {
    name: String
    kind: String
    description: String
    tags: [String!]
    attributes: JSON
    location: LocationInput
    metrics: [MetricInput!]
    listed: Boolean
    "null removes the declaration."
    production: ProductionInput
    "Replaces the supply links: each supplier among the twin's suppliedByIds."
    supply: [SupplyLinkInput!]
    "null clears it."
    capacity: CapacityInput
  }

  type ${n.mutation} {
    createTwin(input: TwinInput!): ${n.twin}!
    updateTwin(id: ID!, patch: TwinPatch!): ${n.twin}!
    "Deletes the twin with its metrics and history; returns its id."
    deleteTwin(id: ID!): ID!
    "Records that supplierId (a twin here or at another organization) supplies twinId."
    linkSupplier(twinId: ID!, supplierId: ID!): ${n.twin}!
    unlinkSupplier(twinId: ID!, supplierId: ID!): ${n.twin}!
    "Removes a metric and its history from a twin."
    removeMetric(twinId: ID!, metric: String!): ${n.twin}!
  }
`;
}

const CURSOR = 'twin';

function twinState(twin: TwinRow) {
  return {
    status: twin.status,
    updatedAt: twin.stateUpdatedAt,
    metrics: twin.metrics.flatMap((m) =>
      m.lastAt === null || m.lastValue === null
        ? []
        : [
            {
              metric: m.name,
              unit: m.unit,
              value: m.lastValue,
              at: m.lastAt,
              inRange: m.min === null && m.max === null ? null : (m.min === null || m.lastValue >= m.min) && (m.max === null || m.lastValue <= m.max),
            },
          ],
    ),
  };
}

export function twinsResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    Query: { [n.field]: () => ({}) },
    Mutation: { [n.field]: () => ({}) },
    [n.query]: {
      twin: async (_: unknown, args: { id: string }, ctx: OrgContext) => ctx.twins.load(localIdOf(n, args.id, 'id')),
      twins: async (_: unknown, args: { filter?: TwinListFilter; first: number; after?: string }, ctx: OrgContext) => {
        const first = pageSize(args.first, ctx.limits.maxPageSize);
        const after = args.after ? decodeCursor(CURSOR, args.after) : null;
        return connection(CURSOR, await listTwins(ctx.db, ctx.access, { filter: args.filter, first, after }), (twin) => twin.id);
      },
    },
    [n.twin]: {
      __resolveReference: (ref: { id: string }, ctx: OrgContext) => ctx.twins.load(localIdOf(n, ref.id, 'id')),
      id: (twin: TwinRow) => globalTwinId(n.slug, twin.id),
      suppliedByIds: (twin: TwinRow) => twin.suppliers.map((s) => s.supplierId),
      state: twinState,
      production: (twin: TwinRow) =>
        twin.idealRatePerHour === null || twin.totalCountMetric === null || twin.goodCountMetric === null
          ? null
          : { idealRatePerHour: twin.idealRatePerHour, totalCountMetric: twin.totalCountMetric, goodCountMetric: twin.goodCountMetric },
    },
    [n.mutation]: {
      createTwin: (_: unknown, args: { input: unknown }, ctx: OrgContext) => createTwin(ctx, args.input),
      updateTwin: (_: unknown, args: { id: string; patch: unknown }, ctx: OrgContext) => updateTwin(ctx, args.id, args.patch),
      deleteTwin: (_: unknown, args: { id: string }, ctx: OrgContext) => deleteTwin(ctx, args.id),
      linkSupplier: (_: unknown, args: { twinId: string; supplierId: string }, ctx: OrgContext) => linkSupplier(ctx, args.twinId, args.supplierId),
      unlinkSupplier: (_: unknown, args: { twinId: string; supplierId: string }, ctx: OrgContext) => unlinkSupplier(ctx, args.twinId, args.supplierId),
      removeMetric: (_: unknown, args: { twinId: string; metric: string }, ctx: OrgContext) => removeMetric(ctx, args.twinId, args.metric),
    },
  };
}

/**
 * Every field of the twin type but `id` answers only a caller that may read the twin
 * (`twins:read`), and reading one is audited as a read. Queries load only such twins, but
 * mutations return the twin they changed, and a write-only grant must read nothing through
 * them. Applied to the built schema, so that the fields other modules add to the twin type are
 * covered too. A refused field is `FORBIDDEN` naming the scope: null with the error, or, for
 * the non-null `suppliedByIds`, the mutation's whole result (GraphQL's null propagation).
 */
export function guardTwinFields(schema: GraphQLSchema, n: OrgNames): void {
  const type = schema.getType(n.twin);
  if (!isObjectType(type)) throw new TypeError(`${n.twin} is not an object type of the schema`);
  for (const field of Object.values(type.getFields())) {
    if (field.name === 'id') continue;
    const resolve = field.resolve ?? defaultFieldResolver;
    field.resolve = (twin: TwinRow, args, ctx: OrgContext, info) => {
      ctx.access.requireTwin('twins:read', twin);
      ctx.access.read([twin.id]);
      return resolve(twin, args, ctx, info);
    };
  }
}
