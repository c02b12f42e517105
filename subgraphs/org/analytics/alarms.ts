/**
 * Alarms with a lifecycle, after ISA-18.2 / IEC 62682: an alarm is ACTIVE or CLEARED and
 * UNACKNOWLEDGED or ACKNOWLEDGED; one that clears unacknowledged stays until someone
 * acknowledges it, and acknowledged + cleared is closed. A twin has at most one open alarm per
 * cause (a unique index on the cause while open, see schema.prisma): the cause coming back while its alarm is open re-activates
 * it. Every change is recorded with who and when (`AlarmHistory`) and announced as an event in
 * the same transaction (outbox), with the disruption of the twin a HIGH or CRITICAL alarm opens or
 * closes (disruptions.ts).
 */
import { randomUUID } from 'node:crypto';
import { connection, decodeCursor, pageOf, pageSize } from '../../../lib/cursor.ts';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import type { AlarmView, TwinAlarmEvent } from '../../../lib/events.ts';
import { globalTwinId } from '../../../lib/ids.ts';
import type { Logger } from '../../../lib/logger.ts';
import type { Alarm, Prisma } from '../../../prisma/generated/org/client.ts';
import type { OrgBase } from '../context.ts';
import type { OrgDb } from '../db.ts';
import { alarmChanged } from '../events/outbox.ts';
import type { TwinRow } from '../twins/store.ts';
import { alarmDisruption } from './disruptions.ts';

type Tx = Prisma.TransactionClient;

export type AlarmSeverity = AlarmView['severity'];
export type AlarmState = AlarmView['state'];
/** The numbers behind an alarm: flat fields (lib/events.ts bounds them). */
export type AlarmExplanation = AlarmView['explanation'];

/** What raises or clears an alarm: a rule, a detector, a health or RUL model. */
export interface AlarmInput {
  /** The organization's slug. */
  org: string;
  /** Local id of the twin. */
  twinId: string;
  /** `range:<metric>`, `anomaly:<metric>`, `health` or `rul`. */
  cause: string;
  /** Whether the condition holds now: raises (or re-activates) the alarm, or clears it. */
  active: boolean;
  severity: AlarmSeverity;
  /** Which rule or detector, the score, baseline, value, limit… (kept with the alarm when it is raised). */
  explanation: AlarmExplanation;
}

/** Who changed an alarm when the organization itself did (rules, detectors, escalation). */
const SYSTEM = 'system';

/** The longest comment or assignee accepted. */
const MAX_TEXT = 2000;
const MAX_ASSIGNEE = 200;

function stateOf(alarm: Alarm): AlarmState {
  if (alarm.closedAt) return 'CLOSED';
  if (!alarm.active) return 'CLEARED_UNACKNOWLEDGED';
  return alarm.acknowledged ? 'ACTIVE_ACKNOWLEDGED' : 'ACTIVE_UNACKNOWLEDGED';
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** An alarm as events and the network graph show it. */
export function alarmView(org: string, alarm: Alarm): AlarmView {
  return {
    id: alarm.id,
    twinId: globalTwinId(org, alarm.twinId),
    cause: alarm.cause,
    severity: alarm.severity,
    state: stateOf(alarm),
    active: alarm.active,
    acknowledged: alarm.acknowledged,
    explanation: alarm.explanation as AlarmExplanation,
    raisedAt: alarm.raisedAt.toISOString(),
    activatedAt: alarm.activatedAt.toISOString(),
    clearedAt: iso(alarm.clearedAt),
    acknowledgedAt: iso(alarm.acknowledgedAt),
    acknowledgedBy: alarm.acknowledgedBy,
    assignee: alarm.assignee,
    escalation: alarm.escalation,
    escalatedAt: iso(alarm.escalatedAt),
    closedAt: iso(alarm.closedAt),
  };
}

/** Records a change: its history line and its event, in the transaction that made it. */
async function recorded(
  tx: Tx,
  org: string,
  alarm: Alarm,
  twin: { id: string; kind: string; tags: string[] },
  change: TwinAlarmEvent['change'],
  by: string,
  text: string | null = null,
): Promise<AlarmView> {
  await tx.alarmHistory.create({ data: { alarmId: alarm.id, action: change, by, text } });
  const view = alarmView(org, alarm);
  await alarmChanged(tx, org, twin, view, change, by);
  return view;
}

/** What closes an alarm: its cause is free for a new one. */
function closed(now: Date) {
  return { closedAt: now, openCause: null };
}

/** The open alarm of a twin for a cause, locked until the transaction ends. */
async function lockOpen(tx: Tx, twinId: string, cause: string): Promise<Alarm | null> {
  const [open] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Alarm" WHERE "twinId" = ${twinId} AND "openCause" = ${cause} FOR UPDATE`;
  return open ? tx.alarm.findUniqueOrThrow({ where: { id: open.id } }) : null;
}

/** The twin an alarm is about, as its events say it (the caller has it: no lookup per alarm). */
export interface AlarmTwin {
  id: string;
  kind: string;
  tags: string[];
}

/** Records a change the organization itself made (raised, re-activated, cleared): with the disruption it announces, if any. */
async function systemChanged(tx: Tx, org: string, alarm: Alarm, twin: AlarmTwin, change: 'raised' | 'reactivated' | 'cleared'): Promise<AlarmView> {
  const view = await recorded(tx, org, alarm, twin, change, SYSTEM);
  await alarmDisruption(tx, org, twin, alarm);
  return view;
}

/**
 * Raises (or re-activates) the twin's alarm for the cause when `active`, else clears it, in the
 * caller's transaction: what rules, detectors and the health and RUL models call. Returns the
 * alarm as changed, or null when nothing changed (raised while active, cleared while not).
 * Concurrent callers for the same twin and cause serialize on the open alarm's row.
 */
export async function raiseOrClearAlarm(tx: Tx, input: AlarmInput, twin: AlarmTwin): Promise<AlarmView | null> {
  const open = await lockOpen(tx, input.twinId, input.cause);
  const now = new Date();
  if (input.active) {
    if (open?.active) return null;
    if (open) {
      // Cleared but never acknowledged: the same alarm comes back (ISA-18.2's return to alarm).
      const alarm = await tx.alarm.update({
        where: { id: open.id },
        data: { active: true, activatedAt: now, clearedAt: null, severity: input.severity, explanation: input.explanation },
      });
      return systemChanged(tx, input.org, alarm, twin, 'reactivated');
    }
    const created = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO "Alarm" (id, "twinId", cause, "openCause", severity, active, explanation, "activatedAt", "updatedAt")
      VALUES (${randomUUID()}, ${input.twinId}, ${input.cause}, ${input.cause}, ${input.severity}::"AlarmSeverity", true, ${JSON.stringify(input.explanation)}::jsonb, ${now}, ${now})
      ON CONFLICT ("twinId", "openCause") DO NOTHING RETURNING id`;
    // Another transaction raised it first: now it is committed, take it from there.
    if (created.length === 0) return raiseOrClearAlarm(tx, input, twin);
    const alarm = await tx.alarm.findUniqueOrThrow({ where: { id: created[0]!.id } });
    return systemChanged(tx, input.org, alarm, twin, 'raised');
  }
  if (!open?.active) return null;
  const alarm = await tx.alarm.update({
    where: { id: open.id },
    data: { active: false, clearedAt: now, ...(open.acknowledged ? closed(now) : {}) },
  });
  return systemChanged(tx, input.org, alarm, twin, 'cleared');
}

/** How a principal is named in an alarm's history. */
function principalName(ctx: OrgBase): string {
  const { kind, subject } = ctx.access.principal;
  return `${kind}:${subject}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function checkText(value: string, field: string, max: number, optional = false): string | null {
  const text = value.trim();
  if (text.length > max) throw fail(ErrorCode.INVALID_INPUT, `${field}: at most ${max} characters.`, { field, limit: max });
  if (text.length === 0 && !optional) throw fail(ErrorCode.INVALID_INPUT, `${field}: must not be empty.`, { field });
  return text.length === 0 ? null : text;
}

/**
 * Changes one alarm on behalf of the caller (`alarms:write` on its twin): `apply` gives the
 * update, or null for none (acknowledging an acknowledged alarm). An alarm of a twin the
 * caller may not reach is `NOT_FOUND`, as is an unknown one: its existence does not show.
 */
async function changeAlarm(
  ctx: OrgBase,
  id: string,
  change: TwinAlarmEvent['change'],
  apply: (alarm: Alarm, by: string, now: Date) => Prisma.AlarmUpdateInput | null,
  text: string | null,
): Promise<AlarmView> {
  ctx.access.require('alarms:write');
  const notFound = () => fail(ErrorCode.NOT_FOUND, `No alarm ${id} here.`, { alarmId: id });
  if (!UUID.test(id)) throw notFound();
  const by = principalName(ctx);
  return ctx.db.$transaction(async (tx) => {
    const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Alarm" WHERE id = ${id} FOR UPDATE`;
    const alarm = locked && (await tx.alarm.findUnique({ where: { id }, include: { twin: { select: { id: true, kind: true, tags: true } } } }));
    if (!alarm || !ctx.access.allows('alarms:write', alarm.twin)) {
      if (alarm) ctx.access.denied('write', [alarm.twinId], ErrorCode.NOT_FOUND);
      throw notFound();
    }
    ctx.access.wrote([alarm.twinId]);
    const now = new Date();
    const data = apply(alarm, by, now);
    if (data === null) return alarmView(ctx.names.slug, alarm);
    const updated = await tx.alarm.update({ where: { id }, data });
    return recorded(tx, ctx.names.slug, updated, alarm.twin, change, by, text);
  });
}

/** Acknowledges an alarm, with an optional comment; a cleared alarm acknowledged is closed. */
export function acknowledgeAlarm(ctx: OrgBase, id: string, comment?: string | null): Promise<AlarmView> {
  const text = comment == null ? null : checkText(comment, 'comment', MAX_TEXT, true);
  return changeAlarm(
    ctx,
    id,
    'acknowledged',
    (alarm, by, now) => (alarm.acknowledged ? null : { acknowledged: true, acknowledgedAt: now, acknowledgedBy: by, ...(alarm.active ? {} : closed(now)) }),
    text,
  );
}

/** Assigns an alarm to someone (a name the organization uses), or to nobody with null. */
export function assignAlarm(ctx: OrgBase, id: string, assignee: string | null): Promise<AlarmView> {
  const name = assignee === null ? null : checkText(assignee, 'assignee', MAX_ASSIGNEE);
  return changeAlarm(ctx, id, 'assigned', () => ({ assignee: name }), name);
}

/** Adds a comment to an alarm's history. */
export function commentAlarm(ctx: OrgBase, id: string, text: string): Promise<AlarmView> {
  const comment = checkText(text, 'text', MAX_TEXT);
  return changeAlarm(ctx, id, 'commented', (_alarm, _by, now) => ({ updatedAt: now }), comment);
}

const CURSOR = 'alarm';

/** Which alarms each state stands for. */
const STATE_WHERE: Record<AlarmState, Prisma.AlarmWhereInput> = {
  ACTIVE_UNACKNOWLEDGED: { closedAt: null, active: true, acknowledged: false },
  ACTIVE_ACKNOWLEDGED: { closedAt: null, active: true, acknowledged: true },
  CLEARED_UNACKNOWLEDGED: { closedAt: null, active: false },
  CLOSED: { closedAt: { not: null } },
};

export interface AlarmsArgs {
  states?: AlarmState[] | null;
  first: number;
  after?: string | null;
}

/** A twin's alarms (`analytics:read` on it), newest first. */
export async function alarmsPage(ctx: OrgBase, twin: TwinRow, args: AlarmsArgs) {
  ctx.access.requireTwin('analytics:read', twin);
  ctx.access.read([twin.id]);
  const first = pageSize(args.first, ctx.limits.maxPageSize);
  const where: Prisma.AlarmWhereInput[] = [{ twinId: twin.id }];
  if (args.states?.length) where.push({ OR: args.states.map((state) => STATE_WHERE[state]) });
  if (args.after) {
    const [time, id] = decodeCursor(CURSOR, args.after).split('/');
    const raisedAt = new Date(Number(time));
    if (!id || Number.isNaN(raisedAt.getTime())) throw fail(ErrorCode.INVALID_INPUT, 'after: not a cursor of this list.', { field: 'after' });
    where.push({ OR: [{ raisedAt: { lt: raisedAt } }, { raisedAt, id: { lt: id } }] });
  }
  const rows = await ctx.db.alarm.findMany({ where: { AND: where }, orderBy: [{ raisedAt: 'desc' }, { id: 'desc' }], take: first + 1 });
  const page = pageOf(rows, first);
  return connection(
    CURSOR,
    { ...page, rows: page.rows.map((alarm) => alarmView(ctx.names.slug, alarm)) },
    (alarm) => `${Date.parse(alarm.raisedAt)}/${alarm.id}`,
  );
}

/** An alarm's history, oldest first. */
export async function alarmHistory(db: OrgDb, alarmId: string) {
  const rows = await db.alarmHistory.findMany({ where: { alarmId }, orderBy: { id: 'asc' }, select: { at: true, action: true, by: true, text: true } });
  return rows.map((row) => ({ ...row, action: row.action.toUpperCase() }));
}

/** Alarms escalated per run at most (the next run takes the rest). */
const ESCALATION_BATCH = 100;

/**
 * Raises the escalation level of every open alarm left unacknowledged for its kind's escalation
 * time (else `defaultSeconds`) since it was activated or last escalated, announcing each.
 * `SKIP LOCKED`: replicas running it at once share the work, never wait on each other, and
 * never escalate an alarm twice for one period. Returns how many it escalated.
 */
export async function escalateAlarms(db: OrgDb, org: string, defaultSeconds: number): Promise<number> {
  return db.$transaction(async (tx) => {
    const due = await tx.$queryRaw<{ id: string }[]>`
      SELECT a.id FROM "Alarm" a JOIN "Twin" t ON t.id = a."twinId" LEFT JOIN "KindAnalytics" k ON k.kind = t.kind
       WHERE a."closedAt" IS NULL AND NOT a.acknowledged
         AND coalesce(a."escalatedAt", a."activatedAt") + make_interval(secs => coalesce(k."escalateAfterSeconds", ${defaultSeconds})) <= now()
       ORDER BY a."activatedAt" LIMIT ${ESCALATION_BATCH}
         FOR UPDATE OF a SKIP LOCKED`;
    const now = new Date();
    for (const { id } of due) {
      const alarm = await tx.alarm.update({
        where: { id },
        data: { escalation: { increment: 1 }, escalatedAt: now },
        include: { twin: { select: { id: true, kind: true, tags: true } } },
      });
      await recorded(tx, org, alarm, alarm.twin, 'escalated', SYSTEM);
    }
    return due.length;
  });
}

/**
 * How often escalation is checked: a fifth of the organization's escalation time, between 100 ms
 * and 30 s. A kind with a shorter time of its own escalates up to one such interval late.
 */
function escalationCheckMs(escalateAfterSeconds: number): number {
  return Math.min(30_000, Math.max(100, (escalateAfterSeconds * 1000) / 5));
}

/** Runs `escalateAlarms` periodically until stopped (its events reach the outbox, whose publishers hear of them). */
export function startAlarmEscalation(options: { db: OrgDb; org: string; escalateAfterSeconds: number; logger: Logger }): {
  stop: () => Promise<void>;
} {
  let running: Promise<void> | null = null;
  const run = async () => {
    try {
      await escalateAlarms(options.db, options.org, options.escalateAfterSeconds);
    } catch (error) {
      options.logger.warn({ err: error }, 'alarm escalation failed, will retry');
    } finally {
      running = null;
    }
  };
  // A run still going when the next is due (a slow store) is not doubled.
  const timer = setInterval(() => (running ??= run()), escalationCheckMs(options.escalateAfterSeconds));
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
