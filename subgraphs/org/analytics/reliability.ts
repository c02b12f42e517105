import { ErrorCode, fail } from '../../../lib/errors.ts';
import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import type { TwinRow } from '../twins/store.ts';
import { healthModelSummary, healthOf, thresholdsOf, setHealthThresholds, trainHealthModel, type HealthModelSummary } from './health.ts';
import { fleetKpis, twinKpis } from './kpis.ts';
import { maintenancePage, recordMaintenance } from './maintenance.ts';

/** Failures and repairs, KPIs, and health models. The twin fields are in the twin contract (lib/graphql/twin-types.ts). */
export function reliabilitySdl(n: OrgNames): string {
  return /* GraphQL */ `
  "The last training of a kind's health and remaining-useful-life model, and the kind's alarm thresholds."
  type HealthModelSummary @shareable {
    kind: String!
    "When the model in use was trained; null while there is none."
    trainedAt: DateTime
    "Runs (from a repair or the first reading to a failure, or to now) and runs to failure that the last training saw."
    runs: Int!
    failures: Int!
    metrics: [String!]!
    "Why the last training produced no model (too little history); null after a success."
    error: String
    attemptedAt: DateTime!
    "The health index under which a twin of the kind has a health alarm: the kind's own, else the organization's."
    healthAlarmBelow: Float!
    "A twin of the kind has an RUL alarm while p10 of its remaining life is within these hours: the kind's own, else the organization's."
    rulHorizonHours: Float!
  }

  extend type ${n.query} {
    "KPIs over [from, to) (at most 400 days) summed over the twins of a kind, or of the organization, that the caller may read with analytics:read."
    kpis(from: DateTime!, to: DateTime!, kind: String): Kpis!
    "A kind's health model; null when never trained. Needs analytics:read."
    healthModel(kind: String!): HealthModelSummary
  }

  extend type ${n.mutation} {
    "Records a failure of a twin at a time (not in the future, not before its last record); it must not have an open failure."
    recordFailure(twinId: ID!, at: DateTime!, note: String): MaintenanceRecord!
    "Records the repair of a twin's open failure."
    recordRepair(twinId: ID!, at: DateTime!, note: String): MaintenanceRecord!
    "Trains a kind's health model now. Needs twins:write on every twin of the kind."
    trainHealthModel(kind: String!): HealthModelSummary!
    "Sets a kind's alarm thresholds (health index in (0, 1), horizon in hours); null restores the organization's. Needs twins:write on every twin of the kind."
    setHealthThresholds(kind: String!, healthAlarmBelow: Float, rulHorizonHours: Float): HealthModelSummary!
  }
`;
}

/** A summary with the thresholds in effect: the kind's own, else the organization's. */
function effective(ctx: OrgContext, summary: HealthModelSummary) {
  return { ...summary, ...thresholdsOf(summary, ctx.healthThresholds) };
}

/** A kind's model is the fleet's: changing it takes write access to every twin of the kind. */
async function requireKindWrite(ctx: OrgContext, kind: string): Promise<void> {
  const where = ctx.access.twinWhere('twins:write');
  if (Object.keys(where).length === 0) return;
  if ((await ctx.db.twin.count({ where: { kind, NOT: where } })) > 0) throw ctx.access.refuse('twins:write', []);
}

interface ThresholdArgs {
  kind: string;
  healthAlarmBelow?: number | null;
  rulHorizonHours?: number | null;
}

function checkThresholds(args: ThresholdArgs): void {
  const { healthAlarmBelow, rulHorizonHours } = args;
  if (healthAlarmBelow != null && !(healthAlarmBelow > 0 && healthAlarmBelow < 1)) {
    throw fail(ErrorCode.INVALID_INPUT, 'healthAlarmBelow must be between 0 and 1.', { field: 'healthAlarmBelow' });
  }
  if (rulHorizonHours != null && !(rulHorizonHours > 0)) throw fail(ErrorCode.INVALID_INPUT, 'rulHorizonHours must be positive.', { field: 'rulHorizonHours' });
}

export function reliabilityResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.twin]: {
      maintenance: (twin: TwinRow, args: { first: number; after?: string | null }, ctx: OrgContext) => maintenancePage(ctx, twin, args),
      kpis: (twin: TwinRow, args: { from: Date; to: Date }, ctx: OrgContext) => twinKpis(ctx, twin, args.from, args.to),
      health: (twin: TwinRow, _: unknown, ctx: OrgContext) => healthOf(ctx, twin),
    },
    [n.query]: {
      kpis: (_: unknown, args: { from: Date; to: Date; kind?: string | null }, ctx: OrgContext) => fleetKpis(ctx, args.from, args.to, args.kind),
      healthModel: async (_: unknown, args: { kind: string }, ctx: OrgContext) => {
        ctx.access.require('analytics:read');
        const summary = await healthModelSummary(ctx.db, args.kind);
        return summary && effective(ctx, summary);
      },
    },
    [n.mutation]: {
      recordFailure: (_: unknown, args: { twinId: string; at: Date; note?: string | null }, ctx: OrgContext) => recordMaintenance(ctx, 'FAILURE', args),
      recordRepair: (_: unknown, args: { twinId: string; at: Date; note?: string | null }, ctx: OrgContext) => recordMaintenance(ctx, 'REPAIR', args),
      trainHealthModel: async (_: unknown, args: { kind: string }, ctx: OrgContext) => {
        ctx.access.require('twins:write');
        await requireKindWrite(ctx, args.kind);
        return effective(ctx, await trainHealthModel(ctx.db, args.kind));
      },
      setHealthThresholds: async (_: unknown, args: ThresholdArgs, ctx: OrgContext) => {
        ctx.access.require('twins:write');
        checkThresholds(args);
        await requireKindWrite(ctx, args.kind);
        return effective(ctx, await setHealthThresholds(ctx.db, args.kind, { healthAlarmBelow: args.healthAlarmBelow, rulHorizonHours: args.rulHorizonHours }));
      },
    },
  };
}
