import { ErrorCode, fail } from '../../../lib/errors.ts';
import type { OrgBase } from '../context.ts';
import type { TwinFacts } from '../access.ts';

/** The longest range KPIs are computed over: bounds the work of one call. */
export const MAX_KPI_DAYS = 400;

const STATUSES = ['UNKNOWN', 'OK', 'ALERT'] as const;

/** Overall equipment effectiveness of the twins declaring production (Nakajima, "Introduction to TPM", 1988). */
export interface Oee {
  availability: number | null;
  performance: number | null;
  quality: number | null;
  oee: number | null;
  totalCount: number;
  goodCount: number;
  uptimeSeconds: number;
}

/** KPIs over `[from, to)` of one twin or summed over several (see the `Kpis` GraphQL type). */
export interface Kpis {
  from: Date;
  to: Date;
  twins: number;
  uptimeSeconds: number;
  downtimeSeconds: number;
  availability: number | null;
  failures: number;
  mtbfSeconds: number | null;
  repairs: number;
  mttrSeconds: number | null;
  statusSeconds: { status: (typeof STATUSES)[number]; seconds: number }[];
  oee: Oee | null;
}

/** One twin's figures as the query returns them: sums, so that several twins add up. */
interface TwinFigures {
  periodSeconds: number;
  downtimeSeconds: number;
  failures: number;
  repairs: number;
  repairSeconds: number;
  statusSeconds: Partial<Record<(typeof STATUSES)[number], number>>;
  idealRatePerHour: number | null;
  totalCount: number | null;
  goodCount: number | null;
}

/**
 * Every twin's figures over the period in one statement. Downtime is the union of its failure →
 * repair intervals (`range_agg`, PostgreSQL 14+) clipped to the period; failures and repairs
 * alternate per twin in time order (maintenance.ts), so a failure's repair is the record after
 * it. A status holds from its change to the next (UNKNOWN before the first). Counters count
 * positive increments from the last reading before the period; a drop is a reset, after which
 * the counter's value is the increment (as Prometheus' `increase`).
 * Parameters: $1 local twin ids, $2 start, $3 end of the period.
 */
const FIGURES_SQL = `
WITH period AS (SELECT tstzrange($2::timestamptz, $3::timestamptz, '[)') AS r),
twins AS (
  SELECT id, "idealRatePerHour" AS ideal, "totalCountMetric" AS total_metric, "goodCountMetric" AS good_metric
    FROM "Twin" WHERE id = ANY($1::text[])),
failures AS (
  SELECT "twinId", at, repaired FROM (
    SELECT "twinId", type, at, lead(at) OVER (PARTITION BY "twinId" ORDER BY at, id) AS repaired
      FROM "MaintenanceEvent" WHERE "twinId" = ANY($1::text[])) e
   WHERE type = 'FAILURE'),
down AS (
  SELECT f."twinId",
         count(*) FILTER (WHERE f.at <@ p.r) AS failures,
         count(*) FILTER (WHERE f.repaired <@ p.r) AS repairs,
         sum(extract(epoch FROM f.repaired - f.at)) FILTER (WHERE f.repaired <@ p.r) AS repair_seconds,
         range_agg(tstzrange(f.at, coalesce(f.repaired, 'infinity'), '[)') * p.r) AS downtime
    FROM failures f CROSS JOIN period p GROUP BY f."twinId"),
changes AS (
  SELECT "twinId", status::text AS status, "from", lead("from", 1, 'infinity') OVER (PARTITION BY "twinId" ORDER BY "from", id) AS until
    FROM "TwinStatusChange" WHERE "twinId" = ANY($1::text[])
  UNION ALL
  SELECT t.id, 'UNKNOWN', '-infinity', coalesce((SELECT min(c."from") FROM "TwinStatusChange" c WHERE c."twinId" = t.id), 'infinity')
    FROM twins t),
status AS (
  SELECT "twinId", jsonb_object_agg(status, seconds) AS seconds FROM (
    SELECT c."twinId", c.status, sum(extract(epoch FROM upper(i.x) - lower(i.x))) AS seconds
      FROM changes c CROSS JOIN period p CROSS JOIN LATERAL (SELECT tstzrange(c."from", c.until, '[)') * p.r AS x) i
     WHERE NOT isempty(i.x) GROUP BY 1, 2) s
   GROUP BY 1),
counters AS (
  SELECT t.id AS "twinId", k.role, r.value, lag(r.value) OVER (PARTITION BY t.id, k.role ORDER BY r.at) AS previous
    FROM twins t CROSS JOIN period p
   CROSS JOIN LATERAL (VALUES ('total', t.total_metric), ('good', t.good_metric)) k(role, metric)
   CROSS JOIN LATERAL (
     (SELECT at, value FROM "Reading" WHERE "twinId" = t.id AND metric = k.metric AND at < lower(p.r) ORDER BY at DESC LIMIT 1)
     UNION ALL
     SELECT at, value FROM "Reading" WHERE "twinId" = t.id AND metric = k.metric AND at >= lower(p.r) AND at < upper(p.r)) r
   WHERE t.ideal IS NOT NULL),
counts AS (
  SELECT "twinId",
         sum(CASE WHEN value >= previous THEN value - previous ELSE value END) FILTER (WHERE role = 'total') AS total,
         sum(CASE WHEN value >= previous THEN value - previous ELSE value END) FILTER (WHERE role = 'good') AS good
    FROM counters WHERE previous IS NOT NULL GROUP BY 1)
SELECT t.ideal AS "idealRatePerHour",
       coalesce(extract(epoch FROM upper(p.r) - lower(p.r)), 0)::float8 AS "periodSeconds",
       coalesce((SELECT sum(extract(epoch FROM upper(x) - lower(x))) FROM unnest(d.downtime) x), 0)::float8 AS "downtimeSeconds",
       coalesce(d.failures, 0)::int AS failures,
       coalesce(d.repairs, 0)::int AS repairs,
       coalesce(d.repair_seconds, 0)::float8 AS "repairSeconds",
       coalesce(s.seconds, '{}') AS "statusSeconds",
       CASE WHEN t.ideal IS NOT NULL THEN coalesce(c.total, 0)::float8 END AS "totalCount",
       CASE WHEN t.ideal IS NOT NULL THEN coalesce(c.good, 0)::float8 END AS "goodCount"
  FROM twins t CROSS JOIN period p
  LEFT JOIN down d ON d."twinId" = t.id
  LEFT JOIN status s ON s."twinId" = t.id
  LEFT JOIN counts c ON c."twinId" = t.id`;

/** Checks the range; returns its end as counted: `to`, or `now` if earlier (time to come is neither up nor down). */
function countedEnd(from: Date, to: Date, now: number): Date {
  if (to.getTime() <= from.getTime()) throw fail(ErrorCode.INVALID_INPUT, 'to must be after from.', { field: 'to' });
  if (to.getTime() - from.getTime() > MAX_KPI_DAYS * 86_400_000) {
    throw fail(ErrorCode.INVALID_INPUT, `KPIs cover at most ${MAX_KPI_DAYS} days per query.`, { field: 'to' });
  }
  return new Date(Math.max(from.getTime(), Math.min(to.getTime(), now)));
}

const sum = (rows: readonly TwinFigures[], value: (row: TwinFigures) => number) => rows.reduce((total, row) => total + value(row), 0);

/** OEE = availability × performance × quality over the twins declaring production; performance counts the ideal rate over each twin's uptime. */
function oeeOf(rows: readonly TwinFigures[]): Oee | null {
  const producing = rows.filter((row) => row.idealRatePerHour !== null);
  if (producing.length === 0) return null;
  const period = sum(producing, (row) => row.periodSeconds);
  const uptimeSeconds = sum(producing, (row) => row.periodSeconds - row.downtimeSeconds);
  const idealCount = sum(producing, (row) => (row.idealRatePerHour! * (row.periodSeconds - row.downtimeSeconds)) / 3600);
  const totalCount = sum(producing, (row) => row.totalCount ?? 0);
  const goodCount = sum(producing, (row) => row.goodCount ?? 0);
  const availability = period > 0 ? uptimeSeconds / period : null;
  const performance = idealCount > 0 ? totalCount / idealCount : null;
  const quality = totalCount > 0 ? goodCount / totalCount : null;
  const oee = availability !== null && performance !== null && quality !== null ? availability * performance * quality : null;
  return { availability, performance, quality, oee, totalCount, goodCount, uptimeSeconds };
}

function combine(rows: readonly TwinFigures[], from: Date, to: Date): Kpis {
  const period = sum(rows, (row) => row.periodSeconds);
  const downtimeSeconds = sum(rows, (row) => row.downtimeSeconds);
  const uptimeSeconds = period - downtimeSeconds;
  const failures = sum(rows, (row) => row.failures);
  const repairs = sum(rows, (row) => row.repairs);
  return {
    from,
    to,
    twins: rows.length,
    uptimeSeconds,
    downtimeSeconds,
    availability: period > 0 ? uptimeSeconds / period : null,
    failures,
    mtbfSeconds: failures > 0 ? uptimeSeconds / failures : null,
    repairs,
    mttrSeconds: repairs > 0 ? sum(rows, (row) => row.repairSeconds) / repairs : null,
    statusSeconds: STATUSES.map((status) => ({ status, seconds: sum(rows, (row) => row.statusSeconds[status] ?? 0) })),
    oee: oeeOf(rows),
  };
}

async function kpisOf(ctx: OrgBase, twinIds: readonly string[], from: Date, to: Date, now: number): Promise<Kpis> {
  const end = countedEnd(from, to, now);
  const rows = twinIds.length === 0 ? [] : await ctx.db.$queryRawUnsafe<TwinFigures[]>(FIGURES_SQL, twinIds, from.toISOString(), end.toISOString());
  return combine(rows, from, end);
}

/** One twin's KPIs over `[from, to)`; needs `analytics:read` on the twin. */
export function twinKpis(ctx: OrgBase, twin: TwinFacts, from: Date, to: Date, now = Date.now()): Promise<Kpis> {
  ctx.access.requireTwin('analytics:read', twin);
  ctx.access.read([twin.id]);
  return kpisOf(ctx, [twin.id], from, to, now);
}

/** KPIs summed over the twins of one kind, or of the organization, that the caller may read with `analytics:read`. */
export async function fleetKpis(ctx: OrgBase, from: Date, to: Date, kind?: string | null, now = Date.now()): Promise<Kpis> {
  countedEnd(from, to, now);
  const twins = await ctx.db.twin.findMany({
    where: { AND: [ctx.access.twinWhere('analytics:read'), kind ? { kind } : {}] },
    select: { id: true },
  });
  const ids = twins.map((twin) => twin.id);
  ctx.access.read(ids);
  return kpisOf(ctx, ids, from, to, now);
}
