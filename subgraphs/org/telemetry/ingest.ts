import { driverErrorKind, ErrorCode, fail } from '../../../lib/errors.ts';
import { parseTwinId } from '../../../lib/ids.ts';
import { DEFAULT_HEALTH_THRESHOLDS } from '../analytics/health.ts';
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
  /** Per series (twin + metric), the index of its first reading. */
  series: Map<string, number>;
  /** Per series and batch, the index of the series' newest reading in that batch. */
  latest: Map<string, number>;
  /** Per series, the batch each `latest` entry belongs to (same order as `latest`'s values). */
  batches: number[];
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
 * Validates batches (from GraphQL or from device messages) into columns. Hand-written rather
 * than a schema library: this is the ingest hot path. Indexes in errors count across the batches.
 */
function toColumns(slug: string, batches: readonly (readonly unknown[])[], maxBatch: number, now: number): ReadingColumns {
  const size = batches.reduce((sum, items) => sum + items.length, 0);
  if (batches.some((items) => items.length === 0)) throw fail(ErrorCode.INVALID_INPUT, 'readings: the batch is empty.', { field: 'readings' });
  if (size > maxBatch) {
    throw fail(ErrorCode.BATCH_TOO_LARGE, `readings: ${size} readings in one batch, at most ${maxBatch} are accepted.`, {
      limit: maxBatch,
      size,
    });
  }
  const columns: ReadingColumns = { twinIds: [], metrics: [], ats: [], values: [], series: new Map(), latest: new Map(), batches: [] };
  const times: number[] = [];
  batches.forEach((items, batch) =>
    items.forEach((item) => {
      const index = times.length;
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
      if (!columns.series.has(series)) columns.series.set(series, index);
      const key = `${series}\n${batch}`;
      const newest = columns.latest.get(key);
      if (newest === undefined) columns.batches.push(batch);
      if (newest === undefined || times[newest]! < time) columns.latest.set(key, index);
    }),
  );
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
  const missing = [...columns.series.keys()].find((key) => !declared.has(key));
  if (missing === undefined) return;
  const index = columns.series.get(missing)!;
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
 * read the snapshot from before the statement, so `"Metric"` and `"Twin"` still hold what was
 * there before it. Batches stored together (a device backlog) are taken in turn: after each
 * batch that moves a twin forward, the twin's state then is announced, as if each batch had
 * been stored by a statement of its own; the twin keeps the state after the last of them.
 * Parameters: $1–$4 the readings, $5–$8 the newest reading per series and batch, $10 its
 * batch, $9 the organization, and with analysis $11 the readings' anomaly scores and $12–$16
 * the write-back of the detectors' state (analytics/pipeline.ts).
 */
function storeStatement(skipExisting: boolean, scored: boolean): string {
  return `WITH inserted AS (
       INSERT INTO "Reading" ("twinId", metric, at, value${scored ? ', "anomalyScore"' : ''})
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[]${scored ? ', $11::float8[]' : ''})
       ${skipExisting ? 'ON CONFLICT DO NOTHING' : ''} RETURNING 1),
     latest AS (
       SELECT * FROM unnest($5::text[], $6::text[], $7::timestamptz[], $8::float8[], $10::int[]) AS l("twinId", metric, at, value, batch)),
     newest AS (
       SELECT DISTINCT ON ("twinId", metric) * FROM latest ORDER BY "twinId", metric, at DESC, batch),
     advanced AS (
       UPDATE "Metric" m SET "lastValue" = n.value, "lastAt" = n.at
         FROM newest n
        WHERE m."twinId" = n."twinId" AND m.name = n.metric AND (m."lastAt" IS NULL OR m."lastAt" < n.at)
       RETURNING 1),
     -- Each metric of each twin after each batch that brought the twin readings: the newest of
     -- what the metric held (first on a tie: a reading's time is its identity) and of what this
     -- batch and the ones before it brought (a running max of [time, -batch]; the reading is then
     -- looked up, so that no value goes through another type). It moved if that is newer than
     -- after the twin's previous batch.
     brought AS (
       SELECT g."twinId", g.batch, m.name, m.unit, m.min, m.max, m."lastValue" AS "storedValue", m."lastAt" AS "storedAt",
              max(CASE WHEN l.at IS NOT NULL THEN ARRAY[extract(epoch FROM l.at), -l.batch] END)
                OVER (PARTITION BY g."twinId", m.name ORDER BY g.batch) AS newest
         FROM (SELECT DISTINCT "twinId", batch FROM latest) g
         JOIN "Metric" m ON m."twinId" = g."twinId"
         LEFT JOIN latest l ON l."twinId" = g."twinId" AND l.metric = m.name AND l.batch = g.batch),
     steps AS (
       SELECT b."twinId", b.batch, b.name, b.unit, b.min, b.max, b."storedAt",
              CASE WHEN p.at IS NULL OR p.at <= b."storedAt" THEN b."storedValue" ELSE p.value END AS "lastValue",
              CASE WHEN p.at IS NULL OR p.at <= b."storedAt" THEN b."storedAt" ELSE p.at END AS "lastAt"
         FROM brought b LEFT JOIN latest p ON p."twinId" = b."twinId" AND p.metric = b.name AND p.batch = -b.newest[2]),
     moves AS (
       SELECT *, "lastAt" IS DISTINCT FROM lag("lastAt", 1, "storedAt") OVER (PARTITION BY "twinId", name ORDER BY batch) AS moved FROM steps),
     states AS (
       SELECT "twinId", batch, ${STATUS_SQL} AS status, max("lastAt") AS updated,
              json_agg(json_build_object('metric', name, 'unit', unit, 'value', "lastValue", 'at', "lastAt",
                         'inRange', CASE WHEN min IS NULL AND max IS NULL THEN NULL
                                         ELSE (min IS NULL OR "lastValue" >= min) AND (max IS NULL OR "lastValue" <= max) END)
                       ORDER BY name) FILTER (WHERE "lastAt" IS NOT NULL) AS metrics
         FROM moves GROUP BY "twinId", batch HAVING bool_or(moved)),
     -- Each state with the status before it: the twin's previous state's, or the stored one.
     transitions AS (
       SELECT s.*, lag(s.status, 1, t.status) OVER (PARTITION BY s."twinId" ORDER BY s.batch) AS previous
         FROM states s JOIN "Twin" t ON t.id = s."twinId"),
     twins AS (
       UPDATE "Twin" t SET status = s.status, "stateUpdatedAt" = s.updated
         FROM (SELECT DISTINCT ON ("twinId") * FROM states ORDER BY "twinId", batch DESC) s
        WHERE t.id = s."twinId" RETURNING t.id, t.kind, t.tags),
     events AS (
       SELECT gen_random_uuid()::text AS "eventId", e.type, t.id, t.kind, t.tags, s.batch, s.status, s.updated, s.metrics
         FROM twins t JOIN transitions s ON s."twinId" = t.id
         CROSS JOIN LATERAL (SELECT 'state' AS type UNION ALL SELECT 'alert' WHERE s.status = 'ALERT' AND s.previous <> 'ALERT') e),
     outbox AS (
       INSERT INTO "OutboxEvent" ("eventId", subject, payload)
       SELECT "eventId", 'events.' || $9 || '.' || id || '.' || type,
              json_build_object('type', type, 'eventId', "eventId", 'org', $9::text, 'twinId', $9 || ':' || id, 'at', now(), 'kind', kind, 'tags', tags,
                                'state', json_build_object('status', status, 'updatedAt', updated, 'metrics', metrics))
         FROM events ORDER BY batch, id, type DESC
       RETURNING 1)${
         scored
           ? `,
     ${writeBackCte(12)}`
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
export function ingestReadings(ctx: OrgBase, items: readonly unknown[], now = Date.now()): Promise<IngestResult> {
  return ingestBatches(ctx, [items], now);
}

/**
 * Stores batches together, in one transaction, with the same result as storing each in turn
 * (the state after each is announced): a backlog costs a transaction, not one per batch. All or
 * nothing: one bad batch fails them all (the caller stores them one by one to find it).
 */
export async function ingestBatches(ctx: OrgBase, batches: readonly (readonly unknown[])[], now = Date.now()): Promise<IngestResult> {
  ctx.access.require('telemetry:write');
  const columns = toColumns(ctx.names.slug, batches, ctx.limits.maxIngestBatch, now);
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
    columns.batches,
  ];
  type Stored = { accepted: bigint; advanced: bigint }[];
  const analytics = ctx.analytics ?? true;
  const store = (skipExisting: boolean) => {
    const sql = STATEMENTS[`${analytics}`][Number(skipExisting)]!;
    if (!analytics) return ctx.db.$queryRawUnsafe<Stored>(sql, ...params);
    return withAnalysis(ctx.db, ctx.names.slug, columns, ctx.healthThresholds ?? DEFAULT_HEALTH_THRESHOLDS, (tx, analysis) =>
      tx.$queryRawUnsafe<Stored>(sql, ...params, analysis.scores, ...analysis.writeBack),
    );
  };
  // Batches are new readings almost always: a plain insert costs about 20% less than one
  // that checks each row for a conflict. A batch that repeats stored readings (a device
  // retrying) fails the plain insert as a whole (with its analysis) and is stored again skipping those.
  const [row] = await store(false).catch((error: unknown) => (driverErrorKind(error) === 'UniqueConstraintViolation' ? store(true) : Promise.reject(error)));
  ctx.access.wrote(columns.twinIds);
  const accepted = Number(row!.accepted);
  return { accepted, duplicates: columns.twinIds.length - accepted, stateChanges: Number(row!.advanced) };
}
