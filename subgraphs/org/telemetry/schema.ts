import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import type { TwinRow } from '../twins/store.ts';
import { aggregates, readingsPage, type AggregateArgs, type ReadingsArgs } from './history.ts';
import { ingestReadings } from './ingest.ts';

/** The ingest mutation. The history fields are in the twin contract (lib/graphql/twin-types.ts). */
export function telemetrySdl(n: OrgNames): string {
  return /* GraphQL */ `
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
