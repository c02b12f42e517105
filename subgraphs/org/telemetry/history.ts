import { connection, decodePositionCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import type { Scope } from '../../../lib/tokens/scopes.ts';
import type { OrgBase } from '../context.ts';
import type { TwinRow } from '../twins/store.ts';

const CURSOR = 'reading';

/** Checks that the caller holds the scope (default `telemetry:read`) on the twin, which declares the metric; notes the read. */
export function requireMetric(ctx: OrgBase, twin: TwinRow, metric: string, scope: Scope = 'telemetry:read'): void {
  ctx.access.requireTwin(scope, twin);
  ctx.access.read([twin.id]);
  if (!twin.metrics.some((m) => m.name === metric)) {
    const twinId = `${ctx.names.slug}:${twin.id}`;
    throw fail(ErrorCode.UNKNOWN_METRIC, `Twin ${twinId} has no metric ${metric}.`, { twinId, metric });
  }
}

export interface ReadingsArgs {
  metric: string;
  from?: Date | null;
  to?: Date | null;
  first: number;
  after?: string | null;
  order: 'ASC' | 'DESC';
}

/** Raw readings of one metric in `[from, to)`, a page at a time in time order. */
export async function readingsPage(ctx: OrgBase, twin: TwinRow, args: ReadingsArgs) {
  requireMetric(ctx, twin, args.metric);
  const first = pageSize(args.first, ctx.limits.maxPageSize);
  const after = args.after ? new Date(decodePositionCursor(CURSOR, args.after)) : null;
  if (after && Number.isNaN(after.getTime())) throw fail(ErrorCode.INVALID_INPUT, 'after: not a cursor of this list.', { field: 'after' });
  const at: { gte?: Date; lt?: Date; gt?: Date } = {};
  if (args.from) at.gte = args.from;
  if (args.to) at.lt = args.to;
  const rows = await ctx.db.reading.findMany({
    where: { twinId: twin.id, metric: args.metric, AND: [{ at }, after ? { at: args.order === 'ASC' ? { gt: after } : { lt: after } } : {}] },
    orderBy: { at: args.order === 'ASC' ? 'asc' : 'desc' },
    take: first + 1,
    select: { metric: true, at: true, value: true },
  });
  return connection(CURSOR, pageOf(rows, first), (reading) => String(reading.at.getTime()));
}

export interface AggregateArgs {
  metric: string;
  from: Date;
  to: Date;
  bucketSeconds: number;
}

/** avg/min/max/last of one metric per time bucket in `[from, to)`; buckets start at `from`. */
export async function aggregates(ctx: OrgBase, twin: TwinRow, args: AggregateArgs) {
  requireMetric(ctx, twin, args.metric);
  const span = args.to.getTime() - args.from.getTime();
  if (span <= 0) throw fail(ErrorCode.INVALID_INPUT, 'to must be after from.', { field: 'to' });
  if (!Number.isInteger(args.bucketSeconds) || args.bucketSeconds < 1) {
    throw fail(ErrorCode.INVALID_INPUT, 'bucketSeconds must be a positive integer.', { field: 'bucketSeconds' });
  }
  if (span / (args.bucketSeconds * 1000) > ctx.limits.maxBuckets) {
    throw fail(ErrorCode.INVALID_INPUT, `At most ${ctx.limits.maxBuckets} buckets per query: widen bucketSeconds or narrow the range.`, {
      field: 'bucketSeconds',
    });
  }
  const rows = await ctx.db.$queryRawUnsafe<{ start: Date; count: bigint; avg: number; min: number; max: number; last: number }[]>(
    `SELECT date_bin(make_interval(secs => $3), at, $4::timestamptz) AS start,
            count(*) AS count, avg(value) AS avg, min(value) AS min, max(value) AS max,
            (array_agg(value ORDER BY at DESC))[1] AS last
       FROM "Reading"
      WHERE "twinId" = $1 AND metric = $2 AND at >= $4::timestamptz AND at < $5::timestamptz
      GROUP BY 1 ORDER BY 1`,
    twin.id,
    args.metric,
    args.bucketSeconds,
    args.from.toISOString(),
    args.to.toISOString(),
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}
