import { connection, decodePositionCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import { globalTwinId } from '../../../lib/ids.ts';
import type { MaintenanceEvent, MaintenanceType } from '../../../prisma/generated/org/client.ts';
import type { OrgBase, OrgContext } from '../context.ts';
import { localIdOf, requireVisible, type TwinRow } from '../twins/store.ts';
import { failureDisruption } from './disruptions.ts';
import { resetRun } from './health.ts';

const CURSOR = 'maintenance';
const MAX_NOTE = 2000;

/** A failure or repair as the API shows it (the `MaintenanceRecord` GraphQL type). */
export interface MaintenanceRecord {
  twinId: string;
  type: MaintenanceType;
  at: Date;
  note: string | null;
  recordedBy: string;
  recordedAt: Date;
}

function toRecord(slug: string, event: MaintenanceEvent): MaintenanceRecord {
  return {
    twinId: globalTwinId(slug, event.twinId),
    type: event.type,
    at: event.at,
    note: event.note,
    recordedBy: event.recordedBy,
    recordedAt: event.recordedAt,
  };
}

/**
 * Records a failure or a repair of a twin (`twins:write`). Per twin, records alternate — a
 * failure, then its repair — in time order: a repair with no open failure, a second failure
 * before the repair, a time before the twin's last record or in the future are `INVALID_INPUT`.
 * Either ends the twin's current run for its health model; a failure retrains its kind's model
 * after commit, in the background. A failure opens a disruption of the twin, its repair clears
 * it (disruptions.ts).
 */
export async function recordMaintenance(
  ctx: OrgContext,
  type: MaintenanceType,
  args: { twinId: string; at: Date; note?: string | null },
  now = Date.now(),
): Promise<MaintenanceRecord> {
  ctx.access.require('twins:write');
  const localId = localIdOf(ctx.names, args.twinId, 'twinId');
  if (args.at.getTime() > now) throw fail(ErrorCode.INVALID_INPUT, 'at: a failure or repair cannot be in the future.', { field: 'at' });
  if (args.note && args.note.length > MAX_NOTE) throw fail(ErrorCode.INVALID_INPUT, `note: at most ${MAX_NOTE} characters.`, { field: 'note' });
  const { principal } = ctx.access;
  const { event, kind } = await ctx.db.$transaction(async (tx) => {
    const twin = await requireVisible(tx, ctx.access, 'twins:write', localId, args.twinId);
    // One writer at a time per twin: the history checked below is the one the record extends.
    await tx.$queryRaw`SELECT 1 FROM "Twin" WHERE id = ${localId} FOR UPDATE`;
    const last = await tx.maintenanceEvent.findFirst({ where: { twinId: localId }, orderBy: [{ at: 'desc' }, { id: 'desc' }] });
    if (type === 'REPAIR' && last?.type !== 'FAILURE') {
      throw fail(ErrorCode.INVALID_INPUT, `twinId: ${args.twinId} has no open failure to repair.`, { field: 'twinId' });
    }
    if (type === 'FAILURE' && last?.type === 'FAILURE') {
      throw fail(ErrorCode.INVALID_INPUT, `twinId: ${args.twinId} has an open failure since ${last.at.toISOString()}; record its repair first.`, {
        field: 'twinId',
      });
    }
    if (last && args.at < last.at) {
      throw fail(ErrorCode.INVALID_INPUT, `at: before the twin's last record (${last.at.toISOString()}).`, { field: 'at' });
    }
    const created = await tx.maintenanceEvent.create({
      data: { twinId: localId, type, at: args.at, note: args.note ?? null, recordedBy: `${principal.kind}:${principal.subject}` },
    });
    await resetRun(tx, localId);
    // The failure stops the twin's output until its repair: announced to whoever it supplies.
    if (type === 'FAILURE') await failureDisruption(tx, ctx.names.slug, twin, created, 'OPEN');
    else await failureDisruption(tx, ctx.names.slug, twin, last!, 'CLEARED');
    return { event: created, kind: twin.kind };
  });
  ctx.access.wrote([localId]);
  if (type === 'FAILURE') ctx.healthTrainer.schedule(kind);
  return toRecord(ctx.names.slug, event);
}

/** A twin's failures and repairs, newest first, a page at a time; needs `analytics:read` on the twin. */
export async function maintenancePage(ctx: OrgBase, twin: TwinRow, args: { first: number; after?: string | null }) {
  ctx.access.requireTwin('analytics:read', twin);
  ctx.access.read([twin.id]);
  const first = pageSize(args.first, ctx.limits.maxPageSize);
  const after = args.after ? decodePositionCursor(CURSOR, args.after) : null;
  // Per twin, ids grow with time (records are appended in time order), so id order is time order.
  const rows = await ctx.db.maintenanceEvent.findMany({
    where: { twinId: twin.id, ...(after === null ? {} : { id: { lt: BigInt(after) } }) },
    orderBy: { id: 'desc' },
    take: first + 1,
  });
  const page = pageOf(rows, first);
  return connection(CURSOR, { ...page, rows: page.rows.map((row) => ({ ...toRecord(ctx.names.slug, row), id: row.id })) }, (row) => String(row.id));
}
