import { z } from 'zod';
import { ErrorCode, fail, fromPrismaError, type TwinxError } from '../../../lib/errors.ts';
import { textWhere } from '../../../lib/db/like.ts';
import { globalTwinId, MAX_SUPPLIERS, requireTwinId } from '../../../lib/ids.ts';
import { parseInput } from '../../../lib/validation.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';
import type { Access, TwinFacts } from '../access.ts';
import type { OrgBase } from '../context.ts';
import { twinChanged } from '../events/outbox.ts';
import type { OrgDb } from '../db.ts';
import type { OrgNames } from '../names.ts';
import { capacityData, capacityInput, replaceSupply, supplyLinksInput } from '../supply/links.ts';

const twinInclude = {
  metrics: { orderBy: { name: 'asc' } },
  suppliers: { orderBy: { supplierId: 'asc' }, select: { supplierId: true, supply: true } },
} satisfies Prisma.TwinInclude;

/** A twin as loaded for the API: with its metrics (and their latest values) and suppliers (and what they deliver). */
export type TwinRow = Prisma.TwinGetPayload<{ include: typeof twinInclude }>;

type Client = OrgDb | Prisma.TransactionClient;

const metricInput = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'a metric name is a letter followed by letters, digits, "_", "." or "-"'),
    unit: z.string().trim().min(1).max(32),
    min: z.number().nullish(),
    max: z.number().nullish(),
  })
  .refine((m) => m.min == null || m.max == null || m.min <= m.max, 'min must not exceed max');

const attributes = z.record(z.string(), z.unknown()).refine((value) => JSON.stringify(value).length <= 16_384, 'attributes are limited to 16 KiB of JSON');

const location = z.object({
  site: z.string().max(200).nullish(),
  line: z.string().max(200).nullish(),
  latitude: z.number().min(-90).max(90).nullish(),
  longitude: z.number().min(-180).max(180).nullish(),
});

/** What a twin producing units declares for OEE: its ideal rate and its cumulative counters of all and of good units. */
const production = z.object({
  idealRatePerHour: z.number().positive().finite(),
  totalCountMetric: z.string(),
  goodCountMetric: z.string(),
});

const descriptive = {
  name: z.string().trim().min(1).max(200),
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'a kind is lowercase words joined by "-", e.g. cnc-mill'),
  description: z.string().max(4000).nullish(),
  tags: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9:_./-]{0,63}$/, 'tags are up to 64 letters, digits and :_./-')).max(32),
  attributes,
  location: location.nullish(),
  metrics: z.array(metricInput).max(100),
  listed: z.boolean(),
  production: production.nullish(),
  supply: supplyLinksInput.optional(),
  capacity: capacityInput.nullish(),
};

const twinInput = z.object({
  id: z.string(),
  ...descriptive,
  tags: descriptive.tags.default([]),
  attributes: attributes.default({}),
  metrics: descriptive.metrics.default([]),
  listed: descriptive.listed.default(true),
  suppliedByIds: z.array(z.string()).max(MAX_SUPPLIERS).default([]),
});

const twinPatch = z.object({
  name: descriptive.name.optional(),
  kind: descriptive.kind.optional(),
  description: descriptive.description,
  tags: descriptive.tags.optional(),
  attributes: attributes.optional(),
  location: descriptive.location,
  metrics: descriptive.metrics.optional(),
  listed: descriptive.listed.optional(),
  production: descriptive.production,
  supply: descriptive.supply,
  capacity: descriptive.capacity,
});

type MetricInput = z.output<typeof metricInput>;

/** The production columns of a declaration; all null removes it. */
function productionData(declared: z.output<typeof production> | null) {
  return {
    idealRatePerHour: declared?.idealRatePerHour ?? null,
    totalCountMetric: declared?.totalCountMetric ?? null,
    goodCountMetric: declared?.goodCountMetric ?? null,
  };
}

/** The counters a production declaration names must be metrics of the twin; `field` names what the caller changed. */
function checkProduction(twin: TwinRow, field: string): void {
  const missing = [twin.totalCountMetric, twin.goodCountMetric].find((metric) => metric !== null && !twin.metrics.some((m) => m.name === metric));
  if (missing !== undefined) throw fail(ErrorCode.INVALID_INPUT, `${field}: the production counter ${missing} is not a metric of the twin.`, { field });
}

/** Maps a global id of this organization to its local id; any other id is unknown here. */
export function localIdOf(names: OrgNames, id: string, argument: string): string {
  const ref = requireTwinId(id, argument);
  if (ref.org !== names.slug) throw fail(ErrorCode.UNKNOWN_TWIN, `${argument}: no twin ${id} here.`, { field: argument, twinId: id });
  return ref.localId;
}

/** Loads twins by local id, in the order asked, `null` for those missing or not visible. */
export async function loadTwins(db: OrgDb, access: Access, ids: readonly string[]): Promise<(TwinRow | null)[]> {
  const rows = await db.twin.findMany({ where: { AND: [access.twinWhere('twins:read'), { id: { in: [...ids] } }] }, include: twinInclude });
  const byId = new Map(rows.map((row) => [row.id, row]));
  access.read(byId.keys());
  // Missing or not visible: the caller is told neither, the audit log records the attempt.
  const unseen = ids.filter((id) => !byId.has(id));
  if (unseen.length > 0) access.denied('read', unseen, ErrorCode.UNKNOWN_TWIN);
  return ids.map((id) => byId.get(id) ?? null);
}

/** Filters of a twin list. */
export interface TwinListFilter {
  kind?: string | null;
  tags?: string[] | null;
  text?: string | null;
}

/** One page of twins in id order, `first` + 1 fetched to know whether more follow. */
export async function listTwins(
  db: OrgDb,
  access: Access,
  args: { filter?: TwinListFilter | null; first: number; after?: string | null },
): Promise<{ rows: TwinRow[]; hasNextPage: boolean }> {
  const { filter } = args;
  const where: Prisma.TwinWhereInput[] = [access.twinWhere('twins:read')];
  if (filter?.kind) where.push({ kind: filter.kind });
  if (filter?.tags?.length) where.push({ tags: { hasEvery: filter.tags } });
  if (filter?.text) where.push(textWhere(filter.text));
  if (args.after) where.push({ id: { gt: args.after } });
  const rows = await db.twin.findMany({ where: { AND: where }, include: twinInclude, orderBy: { id: 'asc' }, take: args.first + 1 });
  const page = rows.slice(0, args.first);
  access.read(page.map((row) => row.id));
  return { rows: page, hasNextPage: rows.length > args.first };
}

/**
 * SQL computing a twin's overall status from the rows of its metrics (`lastValue`, `lastAt`,
 * `min`, `max`), aggregated per twin: UNKNOWN before any reading, ALERT while any latest
 * value is outside its normal range, OK otherwise. Shared by ingest and metric changes.
 */
export const STATUS_SQL = `CASE WHEN count("lastAt") = 0 THEN 'UNKNOWN'
  WHEN bool_or((min IS NOT NULL AND "lastValue" < min) OR (max IS NOT NULL AND "lastValue" > max)) THEN 'ALERT'
  ELSE 'OK' END::"TwinStatus"`;

/** Recomputes the overall status of the given twins after a change to their metrics. */
export async function refreshStatus(tx: Client, twinIds: string[]): Promise<void> {
  await tx.$executeRawUnsafe(
    `WITH s AS (
       SELECT t.id, ${STATUS_SQL} AS status, max(m."lastAt") AS updated
         FROM "Twin" t LEFT JOIN "Metric" m ON m."twinId" = t.id
        WHERE t.id = ANY($1::text[])
        GROUP BY t.id)
     UPDATE "Twin" t SET status = s.status, "stateUpdatedAt" = s.updated FROM s WHERE t.id = s.id`,
    twinIds,
  );
}

/** The twin's id, kind and tags; throws `UNKNOWN_TWIN` unless it exists and the caller may use the scope on it. */
export async function requireVisible(tx: Client, access: Access, scope: 'twins:read' | 'twins:write', localId: string, id: string) {
  const found = await tx.twin.findFirst({ where: { AND: [access.twinWhere(scope), { id: localId }] }, select: { id: true, kind: true, tags: true } });
  if (!found) {
    access.denied(scope === 'twins:read' ? 'read' : 'write', [localId], ErrorCode.UNKNOWN_TWIN);
    throw fail(ErrorCode.UNKNOWN_TWIN, `No twin ${id}.`, { twinId: id });
  }
  return found;
}

/** Checks supplier ids: well-formed, not the twin itself, and existing when they are ours. */
async function checkSuppliers(tx: Client, names: OrgNames, access: Access, ownId: string, supplierIds: string[]): Promise<void> {
  for (const [index, supplierId] of supplierIds.entries()) {
    const ref = requireTwinId(supplierId, `suppliedByIds.${index}`);
    if (ref.org === names.slug && ref.localId === ownId) {
      throw fail(ErrorCode.INVALID_INPUT, 'A twin cannot supply itself.', { field: `suppliedByIds.${index}` });
    }
    // Twins at other organizations are checked by their owner; the directory drops ids of
    // twins that do not exist there.
    if (ref.org === names.slug) await requireVisible(tx, access, 'twins:read', ref.localId, supplierId);
  }
}

function metricData(metric: MetricInput) {
  return { unit: metric.unit, min: metric.min ?? null, max: metric.max ?? null };
}

function loadOne(tx: Client, localId: string): Promise<TwinRow> {
  return tx.twin.findUniqueOrThrow({ where: { id: localId }, include: twinInclude });
}

/** Runs a change to one existing, visible twin in a transaction and returns the twin after it. */
export async function changeTwin(
  { db, names, access }: OrgBase,
  id: string,
  argument: string,
  change: (tx: Prisma.TransactionClient, twin: TwinFacts) => Promise<unknown>,
): Promise<TwinRow> {
  access.require('twins:write');
  const localId = localIdOf(names, id, argument);
  const twin = await db.$transaction(async (tx) => {
    const before = await requireVisible(tx, access, 'twins:write', localId, id);
    await change(tx, before);
    const changed = await loadOne(tx, localId);
    // A write never changes what the writer's own grants reach (refused, and rolled back).
    access.requireSameReach(before, changed);
    await twinChanged(tx, names.slug, changed, 'updated');
    return changed;
  });
  access.wrote([localId]);
  return twin;
}

/**
 * What a create of a taken id is told: `ALREADY_EXISTS` when the caller may read the twin that
 * has it; otherwise exactly what a refused write is told, so that a partner does not learn that
 * a twin outside its grants exists.
 */
async function refuseTaken(db: OrgDb, access: Access, localId: string, id: string): Promise<TwinxError> {
  const taken = await db.twin.findUnique({ where: { id: localId }, select: { id: true, kind: true, tags: true } });
  if (!taken || !access.allows('twins:read', taken)) return access.refuse('twins:write', [localId]);
  access.denied('write', [localId], ErrorCode.ALREADY_EXISTS);
  return fail(ErrorCode.ALREADY_EXISTS, `Twin ${id} already exists.`, { twinId: id });
}

export async function createTwin({ db, names, access }: OrgBase, input: unknown): Promise<TwinRow> {
  access.require('twins:write');
  const data = parseInput(twinInput, input, 'input');
  const localId = localIdOf(names, data.id, 'input.id');
  // A partner may create only twins its write grants would reach.
  access.requireTwin('twins:write', { id: localId, kind: data.kind, tags: data.tags });
  const suppliedByIds = [...new Set(data.suppliedByIds)];
  if (new Set(data.metrics.map((m) => m.name)).size !== data.metrics.length) {
    throw fail(ErrorCode.INVALID_INPUT, 'input.metrics: metric names must be unique.', { field: 'input.metrics' });
  }
  const twin = await db
    .$transaction(async (tx) => {
      await checkSuppliers(tx, names, access, localId, suppliedByIds);
      // The primary key tells whether the id is taken, concurrent creates included.
      await tx.twin.create({
        data: {
          id: localId,
          name: data.name,
          kind: data.kind,
          description: data.description ?? null,
          tags: data.tags,
          listed: data.listed,
          attributes: data.attributes as Prisma.InputJsonObject,
          location: data.location ?? undefined,
          ...productionData(data.production ?? null),
          ...capacityData(data.capacity ?? null),
          metrics: { create: data.metrics.map((m) => ({ name: m.name, ...metricData(m) })) },
          suppliers: { create: suppliedByIds.map((supplierId) => ({ supplierId })) },
        },
      });
      if (data.supply) await replaceSupply(tx, localId, suppliedByIds, data.supply, 'input.supply');
      const created = await loadOne(tx, localId);
      checkProduction(created, 'input.production');
      await twinChanged(tx, names.slug, created, 'created');
      return created;
    })
    .catch(async (error: unknown) => {
      throw fromPrismaError(error).code === ErrorCode.ALREADY_EXISTS ? await refuseTaken(db, access, localId, data.id) : error;
    });
  access.wrote([localId]);
  return twin;
}

export function updateTwin(store: OrgBase, id: string, patch: unknown): Promise<TwinRow> {
  const data = parseInput(twinPatch, patch, 'patch');
  return changeTwin(store, id, 'id', async (tx, { id: localId }) => {
    await tx.twin.update({
      where: { id: localId },
      data: {
        name: data.name,
        kind: data.kind,
        description: data.description,
        tags: data.tags,
        listed: data.listed,
        attributes: data.attributes as Prisma.InputJsonObject | undefined,
        location: data.location === null ? { set: null } : data.location,
        ...(data.production === undefined ? {} : productionData(data.production)),
        ...(data.capacity === undefined ? {} : capacityData(data.capacity)),
      },
    });
    if (data.supply) {
      const suppliers = await tx.twinSupplier.findMany({ where: { twinId: localId }, select: { supplierId: true } });
      await replaceSupply(
        tx,
        localId,
        suppliers.map((s) => s.supplierId),
        data.supply,
        'patch.supply',
      );
    }
    for (const metric of data.metrics ?? []) {
      await tx.metric.upsert({
        where: { twinId_name: { twinId: localId, name: metric.name } },
        create: { twinId: localId, name: metric.name, ...metricData(metric) },
        update: metricData(metric),
      });
    }
    // A new normal range can move the latest values in or out of range.
    if (data.metrics?.length) await refreshStatus(tx, [localId]);
    if (data.production) checkProduction(await loadOne(tx, localId), 'patch.production');
  });
}

export async function deleteTwin({ db, names, access }: OrgBase, id: string): Promise<string> {
  access.require('twins:write');
  const localId = localIdOf(names, id, 'id');
  await db.$transaction(async (tx) => {
    const twin = await requireVisible(tx, access, 'twins:write', localId, id);
    // Metrics, readings and the twin's own supplier links go by cascade; links of our other
    // twins that pointed at it are removed here.
    await tx.twinSupplier.deleteMany({ where: { supplierId: globalTwinId(names.slug, localId) } });
    await twinChanged(tx, names.slug, twin, 'deleted');
    await tx.twin.delete({ where: { id: localId } });
  });
  access.wrote([localId]);
  return id;
}

export function linkSupplier(store: OrgBase, twinId: string, supplierId: string): Promise<TwinRow> {
  return changeTwin(store, twinId, 'twinId', async (tx, { id: localId }) => {
    await checkSuppliers(tx, store.names, store.access, localId, [supplierId]);
    await tx.twinSupplier.upsert({ where: { twinId_supplierId: { twinId: localId, supplierId } }, create: { twinId: localId, supplierId }, update: {} });
  });
}

export function unlinkSupplier(store: OrgBase, twinId: string, supplierId: string): Promise<TwinRow> {
  return changeTwin(store, twinId, 'twinId', (tx, { id: localId }) => tx.twinSupplier.deleteMany({ where: { twinId: localId, supplierId } }));
}

export function removeMetric(store: OrgBase, twinId: string, metric: string): Promise<TwinRow> {
  return changeTwin(store, twinId, 'twinId', async (tx, twin) => {
    const counters = await tx.twin.findUniqueOrThrow({ where: { id: twin.id }, select: { totalCountMetric: true, goodCountMetric: true } });
    if (metric === counters.totalCountMetric || metric === counters.goodCountMetric) {
      throw fail(ErrorCode.INVALID_INPUT, `metric: ${metric} is a production counter of the twin; change its production declaration first.`, {
        field: 'metric',
      });
    }
    const { count } = await tx.metric.deleteMany({ where: { twinId: twin.id, name: metric } });
    // Which metrics a twin has is its data: a caller that may not read it removes a metric the
    // twin does not have as one it has, and learns nothing.
    if (count === 0 && store.access.allows('twins:read', twin)) {
      throw fail(ErrorCode.UNKNOWN_METRIC, `Twin ${twinId} has no metric ${metric}.`, { twinId, metric });
    }
    await refreshStatus(tx, [twin.id]);
  });
}
