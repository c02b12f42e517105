import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import { scenarioSchema } from '../../../lib/impact/protocol.ts';
import type { Scope } from '../../../lib/tokens/scopes.ts';
import { parseInput } from '../../../lib/validation.ts';
import type { Prisma, Scenario } from '../../../prisma/generated/org/client.ts';
import type { OrgBase } from '../context.ts';

const scenarioName = z.string().trim().min(1).max(200);

/** A scenario's global id: `<org>:<uuid>`. */
const scenarioId = z.string().regex(/^[a-z0-9-]{1,64}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a scenario id is <org>:<uuid>');

/**
 * Scenarios are the organization's own planning: only its members reach them, with the scope.
 * A partner is refused whatever its grants.
 */
function requireMember({ access }: OrgBase, scope: Scope): void {
  if (access.principal.kind !== 'member') throw access.refuse(scope, []);
  access.require(scope);
}

/** The local id of one of this organization's scenarios; null for another organization's. */
function scenarioLocalId({ names }: OrgBase, id: string, argument: string): string | null {
  const [org, uuid] = parseInput(scenarioId, id, argument).split(':') as [string, string];
  return org === names.slug ? uuid : null;
}

function view({ names }: OrgBase, row: Scenario) {
  return { ...row, id: `${names.slug}:${row.id}` };
}

/** Every saved scenario, newest change first (`supply:read`, members only). */
export async function listScenarios(ctx: OrgBase) {
  requireMember(ctx, 'supply:read');
  const rows = await ctx.db.scenario.findMany({ orderBy: { updatedAt: 'desc' } });
  return rows.map((row) => view(ctx, row));
}

/** One saved scenario, or null (`supply:read`, members only). */
export async function getScenario(ctx: OrgBase, id: string) {
  requireMember(ctx, 'supply:read');
  const localId = scenarioLocalId(ctx, id, 'id');
  const row = localId === null ? null : await ctx.db.scenario.findUnique({ where: { id: localId } });
  return row && view(ctx, row);
}

/** Saves a scenario: a new one without an id, else creates or replaces the one with that id (`twins:write`, members only). */
export async function saveScenario(ctx: OrgBase, args: { id?: string | null; name: string; definition: unknown }) {
  requireMember(ctx, 'twins:write');
  const name = parseInput(scenarioName, args.name, 'name');
  const definition = parseInput(scenarioSchema, args.definition, 'definition') as Prisma.InputJsonObject;
  const id = args.id == null ? randomUUID() : scenarioLocalId(ctx, args.id, 'id');
  if (id === null) throw fail(ErrorCode.INVALID_INPUT, `id: ${args.id} is not a scenario of ${ctx.names.slug}.`, { field: 'id' });
  const createdBy = `member:${ctx.access.principal.subject}`;
  const row = await ctx.db.scenario.upsert({ where: { id }, create: { id, name, definition, createdBy }, update: { name, definition } });
  return view(ctx, row);
}

/** Deletes a saved scenario; whether it existed (`twins:write`, members only). */
export async function deleteScenario(ctx: OrgBase, id: string): Promise<boolean> {
  requireMember(ctx, 'twins:write');
  const localId = scenarioLocalId(ctx, id, 'id');
  if (localId === null) return false;
  const { count } = await ctx.db.scenario.deleteMany({ where: { id: localId } });
  return count > 0;
}
