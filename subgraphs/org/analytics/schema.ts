import { z } from 'zod';
import { connection, decodePositionCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import type { AlarmView } from '../../../lib/events.ts';
import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import { parseInput } from '../../../lib/validation.ts';
import type { OrgBase, OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import { requireMetric } from '../telemetry/history.ts';
import { localIdOf, type TwinRow } from '../twins/store.ts';
import { acknowledgeAlarm, alarmHistory, alarmsPage, assignAlarm, commentAlarm, type AlarmsArgs } from './alarms.ts';

/** Alarm handling and analytics settings. The twin's `alarms` and `anomalies` are in the twin contract (lib/graphql/twin-types.ts). */
export function analyticsSdl(n: OrgNames): string {
  return /* GraphQL */ `
  "Anomaly sensitivity of a twin kind or of one metric of a twin; escalation time of a kind."
  input AnalyticsSettingsInput {
    "A twin kind (then not twinId and metric)."
    kind: String
    twinId: ID
    metric: String
    "0 (only gross outliers) … 1 (the slightest deviation); null: inherit (metric → kind → 0.5)."
    sensitivity: Float
    "Kinds only: seconds an alarm may stay unacknowledged before it escalates; null: the organization's."
    escalateAfterSeconds: Int
  }

  type AnalyticsSettings @shareable {
    kind: String
    twinId: ID
    metric: String
    sensitivity: Float
    escalateAfterSeconds: Int
  }

  extend type ${n.mutation} {
    "Acknowledges an alarm, with a comment; a cleared alarm acknowledged is closed. Needs alarms:write."
    acknowledgeAlarm(id: ID!, comment: String): Alarm!
    "Assigns an alarm to someone, or to nobody with null. Needs alarms:write."
    assignAlarm(id: ID!, assignee: String): Alarm!
    "Adds a comment to an alarm's history. Needs alarms:write."
    commentAlarm(id: ID!, text: String!): Alarm!
    "Sets the anomaly sensitivity of a kind or a metric, and a kind's escalation time. Needs twins:write (on every twin, for a kind)."
    setAnalyticsSettings(input: AnalyticsSettingsInput!): AnalyticsSettings!
  }
`;
}

interface AnomaliesArgs {
  metric: string;
  from?: Date | null;
  to?: Date | null;
  minScore?: number | null;
  first: number;
  after?: string | null;
}

const ANOMALY_CURSOR = 'anomaly';

/** Scores of one metric's analysed readings (`analytics:read` on the twin): times and scores, never values. */
async function anomaliesPage(ctx: OrgBase, twin: TwinRow, args: AnomaliesArgs) {
  requireMetric(ctx, twin, args.metric, 'analytics:read');
  const first = pageSize(args.first, ctx.limits.maxPageSize);
  const minScore = args.minScore ?? 0;
  if (!(minScore >= 0 && minScore <= 1)) throw fail(ErrorCode.INVALID_INPUT, 'minScore must be between 0 and 1.', { field: 'minScore' });
  const at: { gte?: Date; lt?: Date } = {};
  if (args.from) at.gte = args.from;
  if (args.to) at.lt = args.to;
  const after = args.after ? { at: { lt: new Date(decodePositionCursor(ANOMALY_CURSOR, args.after)) } } : {};
  const rows = await ctx.db.reading.findMany({
    where: { twinId: twin.id, metric: args.metric, anomalyScore: { gte: minScore }, AND: [{ at }, after] },
    orderBy: { at: 'desc' },
    take: first + 1,
    select: { at: true, anomalyScore: true },
  });
  const page = pageOf(
    rows.map((row) => ({ at: row.at, score: row.anomalyScore! })),
    first,
  );
  return connection(ANOMALY_CURSOR, page, (point) => String(point.at.getTime()));
}

const settingsInput = z
  .object({
    kind: z.string().min(1).max(64).nullish(),
    twinId: z.string().nullish(),
    metric: z.string().min(1).max(64).nullish(),
    sensitivity: z.number().min(0).max(1).nullish(),
    escalateAfterSeconds: z
      .number()
      .int()
      .min(1)
      .max(366 * 86_400)
      .nullish(),
  })
  .refine((input) => (input.kind != null) !== (input.twinId != null && input.metric != null), 'give a kind, or a twinId and a metric')
  .refine((input) => input.kind != null || input.escalateAfterSeconds == null, 'escalateAfterSeconds is set per kind');

/** Sets a kind's or a metric's analytics settings (`twins:write`; on every twin for a kind, as it reaches twins not created yet). */
async function setAnalyticsSettings(ctx: OrgContext, n: OrgNames, raw: unknown) {
  const input = parseInput(settingsInput, raw, 'input');
  const sensitivity = input.sensitivity ?? null;
  if (input.kind != null) {
    if (ctx.access.principal.scopes.get('twins:write') !== 'all') throw ctx.access.refuse('twins:write', []);
    const settings = { sensitivity, escalateAfterSeconds: input.escalateAfterSeconds ?? null };
    await ctx.db.kindAnalytics.upsert({ where: { kind: input.kind }, create: { kind: input.kind, ...settings }, update: settings });
    return { kind: input.kind, twinId: null, metric: null, ...settings };
  }
  const localId = localIdOf(n, input.twinId!, 'input.twinId');
  const twin = await ctx.db.twin.findFirst({
    where: { AND: [ctx.access.twinWhere('twins:write'), { id: localId }] },
    select: { id: true, metrics: { where: { name: input.metric! }, select: { name: true } } },
  });
  if (!twin) throw fail(ErrorCode.UNKNOWN_TWIN, `No twin ${input.twinId} here.`, { twinId: input.twinId! });
  if (twin.metrics.length === 0)
    throw fail(ErrorCode.UNKNOWN_METRIC, `Twin ${input.twinId} has no metric ${input.metric}.`, { twinId: input.twinId!, metric: input.metric! });
  await ctx.db.metric.update({ where: { twinId_name: { twinId: localId, name: input.metric! } }, data: { sensitivity } });
  ctx.access.wrote([localId]);
  return { kind: null, twinId: input.twinId, metric: input.metric, sensitivity, escalateAfterSeconds: null };
}

export function analyticsResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.twin]: {
      alarms: (twin: TwinRow, args: AlarmsArgs, ctx: OrgContext) => alarmsPage(ctx, twin, args),
      anomalies: (twin: TwinRow, args: AnomaliesArgs, ctx: OrgContext) => anomaliesPage(ctx, twin, args),
    },
    Alarm: {
      history: (alarm: AlarmView, _: unknown, ctx: OrgContext) => alarmHistory(ctx.db, alarm.id),
    },
    [n.mutation]: {
      acknowledgeAlarm: (_: unknown, args: { id: string; comment?: string | null }, ctx: OrgContext) => acknowledgeAlarm(ctx, args.id, args.comment),
      assignAlarm: (_: unknown, args: { id: string; assignee?: string | null }, ctx: OrgContext) => assignAlarm(ctx, args.id, args.assignee ?? null),
      commentAlarm: (_: unknown, args: { id: string; text: string }, ctx: OrgContext) => commentAlarm(ctx, args.id, args.text),
      setAnalyticsSettings: (_: unknown, args: { input: unknown }, ctx: OrgContext) => setAnalyticsSettings(ctx, n, args.input),
    },
  };
}
