import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import type { TwinRow } from '../twins/store.ts';
import { aggregates, readingsPage, type AggregateArgs, type ReadingsArgs } from './history.ts';
import { ingestReadings } from './ingest.ts';

/** Telemetry history on the twin entity, and the ingest mutation. */
export function telemetrySdl(n: OrgNames): string {
  return /* GraphQL */ `
  extend type ${n.twin} {
    "Raw readings of one metric in [from, to), newest first unless order is ASC."
    telemetry(metric: String!, from: DateTime, to: DateTime, first: Int! = 100, after: String, order: SortOrder! = DESC): ReadingConnection
    "Readings of one metric in [from, to) aggregated into buckets of bucketSeconds, for charts."
    aggregates(metric: String!, from: DateTime!, to: DateTime!, bucketSeconds: Int!): [TelemetryBucket!]
  }

  input ReadingInput {
    twinId: ID!
    metric: String!
    at: DateTime!
    value: Float!
  }

  type IngestResult @shareable {
    "Readings stored by this call."
    accepted: Int!
    "Readings that were already stored (same twin, metric and time)."
    duplicates: Int!
    "Twins whose state moved forward."
    stateChanges: Int!
  }

  extend type ${n.mutation} {
    "Stores a batch of readings: all or nothing, idempotent, state only moves forward."
    ingestTelemetry(readings: [ReadingInput!]!): IngestResult!
  }
`;
}

export function telemetryResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.twin]: {
      telemetry: (twin: TwinRow, args: ReadingsArgs, ctx: OrgContext) => readingsPage(ctx, twin, args),
      aggregates: (twin: TwinRow, args: AggregateArgs, ctx: OrgContext) => aggregates(ctx, twin, args),
    },
    [n.mutation]: {
      ingestTelemetry: (_: unknown, args: { readings: unknown[] }, ctx: OrgContext) => ingestReadings(ctx, args.readings),
    },
  };
}
