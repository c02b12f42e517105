import { ErrorCode, fail } from '../../../lib/errors.ts';
import { globalTwinId, parseTwinId, requireTwinId } from '../../../lib/ids.ts';
import { HOUR_MS } from '../../../lib/impact/loss.ts';
import { propagate, type SupplyLinkData, type TwinSupply } from '../../../lib/impact/propagate.ts';
import { impactStepRequestSchema } from '../../../lib/impact/protocol.ts';
import { signImpactStatement } from '../../../lib/impact/statement.ts';
import type { DisruptionRequest, ImpactStepAnswer, ImpactStepRequest, ResolvedDisruption } from '../../../lib/impact/types.ts';
import { parseInput } from '../../../lib/validation.ts';
import type { TwinFacts } from '../access.ts';
import { healthOf } from '../analytics/health.ts';
import { DEFAULT_DISRUPTION_HOURS, meanTimeToRepair } from '../analytics/disruptions.ts';
import type { OrgContext } from '../context.ts';

/** p90 − p10 of a normal distribution, in standard deviations (2 × 1.28155). */
const P10_TO_P90 = 2.5631;

/** A twin of the organization's supply graph: what selectors look at, its capacity and the links it is supplied through. */
interface GraphTwin extends TwinFacts {
  capacityPerDay: number | null;
  links: Omit<SupplyLinkData, 'customerId'>[];
}

/**
 * The part of the organization's supply graph a question reaches, in one round trip: its disrupted
 * twins, the twins supplied by the other organizations' twins whose loss it is given, and every
 * twin downstream of them, each with its capacity and supply links. Twins the question does not
 * reach can lose nothing: a question about one twin costs its downstream, not the organization.
 */
function loadGraph(ctx: OrgContext, request: ImpactStepRequest): Promise<GraphTwin[]> {
  const slug = ctx.names.slug;
  const disrupted = request.disruptions.flatMap((disruption) => {
    const ref = parseTwinId(disruption.twinId);
    return ref?.org === slug ? [ref.localId] : [];
  });
  const suppliers = request.inputs.map((input) => input.supplierId);
  return ctx.db.$queryRaw<GraphTwin[]>`
    WITH RECURSIVE reached(id) AS (
      SELECT id FROM "Twin" WHERE id = ANY(${disrupted}::text[])
      UNION
      SELECT "twinId" FROM "SupplyLink" WHERE "supplierId" = ANY(${suppliers}::text[])
      UNION
      SELECT l."twinId" FROM reached r JOIN "SupplyLink" l ON l."supplierId" = ${`${slug}:`} || r.id)
    SELECT t.id, t.kind, t.tags, t."capacityPerDay",
           coalesce(json_agg(json_build_object(
             'supplierId', l."supplierId", 'part', l.part, 'share', l.share, 'leadTimeHours', l."leadTimeHours",
             'stock', l.stock, 'safetyStock', l."safetyStock", 'consumptionPerDay', l."consumptionPerDay", 'daysOfSupply', l."daysOfSupply"
           ) ORDER BY l."supplierId") FILTER (WHERE l."twinId" IS NOT NULL), '[]') AS links
      FROM "Twin" t JOIN reached USING (id) LEFT JOIN "SupplyLink" l ON l."twinId" = t.id
     GROUP BY t.id`;
}

/**
 * A disruption of one of this organization's twins, with its times resolved: given, or from now
 * for its hours (else to the end of the horizon); a predicted one starts at the twin's median
 * remaining useful life, spread by its p10–p90, and lasts its mean time to repair.
 */
async function resolveDisruption(
  ctx: OrgContext,
  request: ImpactStepRequest,
  /** By global id. */
  twins: ReadonlyMap<string, GraphTwin>,
  disruption: DisruptionRequest,
  field: string,
): Promise<ResolvedDisruption> {
  const ref = requireTwinId(disruption.twinId, `${field}.twinId`);
  const twin = twins.get(disruption.twinId);
  if (!twin || !ctx.access.allows('supply:read', twin)) {
    // Missing or not visible: the caller is told neither, the audit log records the attempt.
    if (ref.org === ctx.names.slug) ctx.access.denied('read', [ref.localId], ErrorCode.UNKNOWN_TWIN);
    throw fail(ErrorCode.UNKNOWN_TWIN, `${field}.twinId: no twin ${disruption.twinId} here.`, { field: `${field}.twinId`, twinId: disruption.twinId });
  }
  ctx.access.read([twin.id]);
  const { now } = request;
  const base = { twinId: disruption.twinId, capacity: disruption.capacity, predicted: disruption.predicted };
  if (!disruption.predicted) {
    const from = disruption.from ?? now;
    if (disruption.to !== undefined && disruption.to <= from) throw fail(ErrorCode.INVALID_INPUT, `${field}.to: must be after from.`, { field: `${field}.to` });
    const to = disruption.to ?? (disruption.hours === undefined ? request.until : from + Math.round(disruption.hours * HOUR_MS));
    return { ...base, from, to, spreadHours: null };
  }
  const health = await healthOf(ctx, twin);
  if (health?.p10 == null || health.p50 == null || health.p90 == null) {
    throw fail(ErrorCode.INVALID_INPUT, `${field}.predicted: twin ${disruption.twinId} has no remaining useful life predicted.`, {
      field: `${field}.predicted`,
    });
  }
  // As long as the repairs recorded so far took on average, as its announced disruptions last (analytics/disruptions.ts).
  const mttr = await meanTimeToRepair(ctx.db, twin.id, new Date());
  // Times are whole milliseconds (lib/impact/protocol.ts).
  const from = Math.round(now + health.p50 * HOUR_MS);
  const to = from + Math.round(mttr !== null && mttr > 0 ? mttr : (disruption.hours ?? DEFAULT_DISRUPTION_HOURS) * HOUR_MS);
  return { ...base, from, to, spreadHours: (health.p90 - health.p10) / P10_TO_P90 };
}

/**
 * One hop of an impact question at this organization (`impactStep`, `supply:read`): resolves the
 * disruptions of its own twins, follows them and the other organizations' losses it is given
 * through its own supply graph, and answers what the caller may see, signed. Twins the caller
 * may not read with `supply:read` are counted, neither shown nor followed.
 */
export async function impactStep(ctx: OrgContext, raw: unknown): Promise<ImpactStepAnswer> {
  ctx.access.require('supply:read');
  const request = parseInput(impactStepRequestSchema, raw, 'request');
  for (const [index, input] of request.inputs.entries()) {
    const field = `request.inputs.${index}.supplierId`;
    // Ids are owned: the losses of this organization's twins are computed here, never taken from a caller.
    if (requireTwinId(input.supplierId, field).org === ctx.names.slug) {
      throw fail(ErrorCode.INVALID_INPUT, `${field}: ${input.supplierId} is a twin of ${ctx.names.slug}; inputs are other organizations' twins.`, { field });
    }
  }
  const slug = ctx.names.slug;
  const graph = await loadGraph(ctx, request);
  const byGlobalId = new Map(graph.map((twin) => [globalTwinId(slug, twin.id), twin]));
  const disruptions: ResolvedDisruption[] = [];
  for (const [index, disruption] of request.disruptions.entries()) {
    disruptions.push(await resolveDisruption(ctx, request, byGlobalId, disruption, `request.disruptions.${index}`));
  }
  const supply: TwinSupply[] = graph.map((twin) => {
    const customerId = globalTwinId(slug, twin.id);
    return { twinId: customerId, capacityPerDay: twin.capacityPerDay, links: twin.links.map((link) => ({ customerId, ...link })) };
  });
  const result = propagate({
    now: request.now,
    until: request.until,
    twins: supply,
    disruptions,
    inputs: request.inputs,
    modifications: request.modifications,
    visible: (twinId) => {
      const twin = byGlobalId.get(twinId);
      return twin !== undefined && ctx.access.allows('supply:read', twin);
    },
  });
  const localOf = (twinId: string) => byGlobalId.get(twinId)!.id;
  ctx.access.read(result.affected.map((twin) => localOf(twin.twinId)));
  // The twins hit that the caller may not see are denied; twins the loss does not hit are not.
  if (result.hiddenIds.length > 0) ctx.access.denied('read', result.hiddenIds.map(localOf), ErrorCode.FORBIDDEN);
  const statement = await signImpactStatement(slug, result.outputs, await ctx.keys.signingKey());
  return {
    disruptions,
    affected: result.affected,
    outputs: result.outputs,
    dependsOn: result.dependsOn,
    statement,
    hidden: result.hiddenIds.length,
    cycles: result.cycles,
  };
}
