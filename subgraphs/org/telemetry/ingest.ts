import { driverErrorKind, ErrorCode, fail } from '../../../lib/errors.ts';
import { parseTwinId } from '../../../lib/ids.ts';
import { withAnalysis, writeBackCte } from '../analytics/pipeline.ts';
import type { OrgBase } from '../context.ts';
import { STATUS_SQL } from '../twins/store.ts';

/** What one ingest call did. */
export interface IngestResult {
  /** Readings stored by this call. */
  accepted: number;
  /** Readings already stored before (same twin, metric and time): ignored. */
  duplicates: number;
  /** Twins whose state moved forward. */
  stateChanges: number;
}

/** Readings as parallel columns: the shape the `unnest` insert takes. */
interface ReadingColumns {
  twinIds: string[];
  metrics: string[];
  ats: string[];
  values: number[];
  /** Per series (twin + metric), the index of its newest reading in the batch. */
  latest: Map<string, number>;
}

/** Readings older than this are rejected as a likely unit mistake (seconds vs ms). */
const EARLIEST = Date.UTC(2000, 0, 1);
/** Tolerated clock skew of devices. */
const MAX_FUTURE_MS = 5 * 60_000;

function invalidItem(index: number, field: string, message: string) {
  return fail(ErrorCode.INVALID_INPUT, `readings.${index}.${field}: ${message}`, { index, field: `readings.${index}.${field}` });
}

function toTime(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  // Same rule as the DateTime scalar: RFC 3339 with an explicit offset.
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return Date.parse(value);
  return Number.NaN;
}

/**
 * Validates a batch (from GraphQL or from a device message) into columns. Hand-written
 * rather than a schema library: this is the ingest hot path.
 */
function toColumns(slug: string, items: readonly unknown[], maxBatch: number, now: number): ReadingColumns {
  if (items.length === 0) throw fail(ErrorCode.INVALID_INPUT, 'readings: the batch is empty.', { field: 'readings' });
  if (items.length > maxBatch) {
    throw fail(ErrorCode.BATCH_TOO_LARGE, `readings: ${items.length} readings in one batch, at most ${maxBatch} are accepted.`, {
      limit: maxBatch,
      size: items.length,
    });
  }
  const columns: ReadingColumns = { twinIds: [], metrics: [], ats: [], values: [], latest: new Map() };
  const times: number[] = [];
  items.forEach((item, index) => {
    if (typeof item !== 'object' || item === null) throw invalidItem(index, 'twinId', 'a reading is an object');
    const { twinId, metric, at, value } = item as Record<string, unknown>;
    const ref = typeof twinId === 'string' ? parseTwinId(twinId) : null;
    if (!ref) throw invalidItem(index, 'twinId', 'expected a twin id <org>:<local-id>');
    if (ref.org !== slug) throw fail(ErrorCode.UNKNOWN_TWIN, `readings.${index}: no twin ${String(twinId)} here.`, { index, twinId: String(twinId) });
    if (typeof metric !== 'string' || metric.length === 0 || metric.length > 64) throw invalidItem(index, 'metric', 'expected a metric name');
    const time = toTime(at);
    if (!(time >= EARLIEST && time <= now + MAX_FUTURE_MS)) {
      throw invalidItem(index, 'at', 'expected an RFC 3339 time after 2000-01-01 and not in the future');
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidItem(index, 'value', 'expected a finite number');
    columns.twinIds.push(ref.localId);
    columns.metrics.push(metric);
    columns.ats.push(new Date(time).toISOString());
    columns.values.push(value);
    times.push(time);
    const series = `${ref.localId}\n${metric}`;
    const newest = columns.latest.get(series);
    if (newest === undefined || times[newest]! < time) columns.latest.set(series, index);
  });
  return columns;
}

/** Every (twin, metric) of the batch must be declared on a twin the caller may write to. */
async function checkSeries(ctx: OrgBase, columns: ReadingColumns): Promise<void> {
  const twinIds = [...new Set(columns.twinIds)];
  const where = ctx.access.twinWhere('telemetry:write');
  const series = await ctx.db.metric.findMany({
    where: { twinId: { in: twinIds }, name: { in: [...new Set(columns.metrics)] }, twin: where },
    select: { twinId: true, name: true },
  });
  const declared = new Set(series.map((m) => `${m.twinId}\n${m.name}`));
  const missing = [...columns.latest.keys()].find((key) => !declared.has(key));
  if (missing === undefined) return;
  const index = columns.twinIds.findIndex((localId, i) => `${localId}\n${columns.metrics[i]}` === missing);
  // Only on failure: tell an unknown twin from an unknown metric of a known twin.
  const localId = columns.twinIds[index]!;
  const twinId = `${ctx.names.slug}:${localId}`;
  const twin = await ctx.db.twin.findFirst({ where: { AND: [where, { id: localId }] }, select: { id: true } });
  ctx.access.denied('write', [localId], twin ? ErrorCode.UNKNOWN_METRIC : ErrorCode.UNKNOWN_TWIN);
  if (!twin) throw fail(ErrorCode.UNKNOWN_TWIN, `readings.${index}: no twin ${twinId} here.`, { index, twinId });
  const metric = columns.metrics[index]!;
  throw fail(ErrorCode.UNKNOWN_METRIC, `readings.${index}: twin ${twinId} has no metric ${metric}.`, { index, twinId, metric });
}

/**
 * One statement, so one implicit transaction: the points, each metric's latest value, each
 * twin's status, and the events announcing the new states (outbox) commit together. CTEs all
 * read the snapshot from before the statement, so the status is computed from the advanced
 * metrics plus the twin's untouched ones, and `before` still holds the previous status.
 * Parameters: $1–$4 the readings, $5–$8 the newest reading per series, $9 the organization,
 * and with analysis $10 the readings' anomaly scores and $11–$15 the write-back of the
 * detectors' state (analytics/pipeline.ts).
 */
function storeStatement(skipExisting: boolean, scored: boolean): string {
  return `WITH inserted AS (
       INSERT INTO "Reading" ("twinId", metric, at, value${scored ? ', "anomalyScore"' : ''})
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[]${scored ? ', $10::float8[]' : ''})
       ${skipExisting ? 'ON CONFLICT DO NOTHING' : ''} RETURNING 1),
     latest AS (
       SELECT * FROM unnest($5::text[], $6::text[], $7::timestamptz[], $8::float8[]) AS l("twinId", metric, at, value)),
     advanced AS (
       UPDATE "Metric" m SET "lastValue" = l.value, "lastAt" = l.at
         FROM latest l
        WHERE m."twinId" = l."twinId" AND m.name = l.metric AND (m."lastAt" IS NULL OR m."lastAt" < l.at)
       RETURNING m."twinId", m.name, m.unit, m."lastValue", m."lastAt", m.min, m.max),
     metrics AS (
       SELECT "twinId", name, unit, "lastValue", "lastAt", min, max FROM advanced
       UNION ALL
       SELECT m."twinId", m.name, m.unit, m."lastValue", m."lastAt", m.min, m.max FROM "Metric" m
        WHERE m."twinId" IN (SELECT "twinId" FROM advanced)
          AND NOT EXISTS (SELECT 1 FROM advanced a WHERE a."twinId" = m."twinId" AND a.name = m.name)),
     states AS (
       SELECT "twinId", ${STATUS_SQL} AS status, max("lastAt") AS updated,
              json_agg(json_build_object('metric', name, 'unit', unit, 'value', "lastValue", 'at', "lastAt",
                         'inRange', CASE WHEN min IS NULL AND max IS NULL THEN NULL
                                         ELSE (min IS NULL OR "lastValue" >= min) AND (max IS NULL OR "lastValue" <= max) END)
                       ORDER BY name) FILTER (WHERE "lastAt" IS NOT NULL) AS metrics
         FROM metrics GROUP BY "twinId"),
     before AS (
       SELECT id, status FROM "Twin" WHERE id IN (SELECT "twinId" FROM states)),
     twins AS (
       UPDATE "Twin" t SET status = s.status, "stateUpdatedAt" = s.updated FROM states s WHERE t.id = s."twinId" RETURNING t.id, t.kind, t.tags),
     events AS (
       SELECT gen_random_uuid()::text AS "eventId", e.type, t.id, t.kind, t.tags, s.status, s.updated, s.metrics
         FROM twins t JOIN states s ON s."twinId" = t.id JOIN before b ON b.id = t.id
         CROSS JOIN LATERAL (SELECT 'state' AS type UNION ALL SELECT 'alert' WHERE s.status = 'ALERT' AND b.status <> 'ALERT') e),
     outbox AS (
       INSERT INTO "OutboxEvent" ("eventId", subject, payload)
       SELECT "eventId", 'events.' || $9 || '.' || id || '.' || type,
              json_build_object('type', type, 'eventId', "eventId", 'org', $9::text, 'twinId', $9 || ':' || id, 'at', now(), 'kind', kind, 'tags', tags,
                                'state', json_build_object('status', status, 'updatedAt', updated, 'metrics', metrics))
         FROM events ORDER BY id, type DESC
       RETURNING 1)${
         scored
           ? `,
     ${writeBackCte(11)}`
           : ''
       }
     SELECT (SELECT count(*) FROM inserted) AS accepted, (SELECT count(*) FROM twins) AS advanced`;
}

/** By analysis (with scores or not), then by whether stored readings are skipped. */
const STATEMENTS = { true: [storeStatement(false, true), storeStatement(true, true)], false: [storeStatement(false, false), storeStatement(true, false)] };

/**
 * Stores a batch of readings: all or nothing, idempotent (a reading is identified by twin,
 * metric and time), and the twins' state moves only forward (a late reading is stored in
 * the history but never overwrites a newer state). Unless the organization runs without
 * analytics, the readings are analysed in the same transaction (analytics/pipeline.ts).
 */
export async function ingestReadings(ctx: OrgBase, items: readonly unknown[], now = Date.now()): Promise<IngestResult> {
  ctx.access.require('telemetry:write');
  const columns = toColumns(ctx.names.slug, items, ctx.limits.maxIngestBatch, now);
  await checkSeries(ctx, columns);
  const newest = [...columns.latest.values()];
  const pick = <T>(column: T[]) => newest.map((index) => column[index]!);
  const params = [
    columns.twinIds,
    columns.metrics,
    columns.ats,
    columns.values,
    pick(columns.twinIds),
    pick(columns.metrics),
    pick(columns.ats),
    pick(columns.values),
    ctx.names.slug,
  ];
  type Stored = { accepted: bigint; advanced: bigint }[];
  const analytics = ctx.analytics ?? true;
  const store = (skipExisting: boolean) => {
    const sql = STATEMENTS[`${analytics}`][Number(skipExisting)]!;
    if (!analytics) return ctx.db.$queryRawUnsafe<Stored>(sql, ...params);
    return withAnalysis(ctx.db, ctx.names.slug, columns, (tx, analysis) => tx.$queryRawUnsafe<Stored>(sql, ...params, analysis.scores, ...analysis.writeBack));
  };
  // Batches are new readings almost always: a plain insert costs about 20% less than one
  // that checks each row for a conflict. A batch that repeats stored readings (a device
  // retrying) fails the plain insert as a whole (with its analysis) and is stored again skipping those.
  const [row] = await store(false).catch((error: unknown) => (driverErrorKind(error) === 'UniqueConstraintViolation' ? store(true) : Promise.reject(error)));
  ctx.access.wrote(columns.twinIds);
  const accepted = Number(row!.accepted);
  return { accepted, duplicates: items.length - accepted, stateChanges: Number(row!.advanced) };
}
