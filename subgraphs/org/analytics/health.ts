import { ErrorCode, TwinxError } from '../../../lib/errors.ts';
import { globalTwinId } from '../../../lib/ids.ts';
import type { Logger } from '../../../lib/logger.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';
import type { OrgBase } from '../context.ts';
import type { OrgDb } from '../db.ts';
import type { TwinFacts } from '../access.ts';
import { estimateRul, newRulState, trainRulModel, updateRulState, type Run, type RulModel, type RulState } from './rul.ts';

type Client = OrgDb | Prisma.TransactionClient;

/** When health and RUL raise alarms; a kind's model may override either. */
export interface HealthThresholds {
  /** A `health` alarm is active while the health index is below this. @default 0.3 */
  healthAlarmBelow: number;
  /** A `rul` alarm is active while `p10` of the remaining life is within this many hours. @default 72 */
  rulHorizonHours: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { healthAlarmBelow: 0.3, rulHorizonHours: 72 };

/**
 * Alarms clear only once the value is this far back on the good side (hysteresis, as alarm
 * deadbands in ANSI/ISA-18.2), so that an estimate hovering at a threshold does not chatter.
 */
const HEALTH_DEADBAND = 0.05;
const RUL_DEADBAND = 0.1;

/** The unit of remaining life: a run's steps are timed in hours since it started. */
export const RUL_UNIT = 'hours';
const HOUR_MS = 3_600_000;

/** Readings of a twin at one time. */
interface Timed {
  at: Date;
  values: Record<string, number>;
}

/** A twin's readings at one time: a step of its run. */
export interface HealthStep extends Timed {
  /** Local id. */
  twinId: string;
}

/** Whether a `health` or `rul` alarm of a twin is active, with why: to raise or clear the alarm. */
export interface HealthAlarmDecision {
  /** Local id. */
  twinId: string;
  cause: 'health' | 'rul';
  active: boolean;
  severity: 'HIGH' | 'CRITICAL';
  explanation: {
    message: string;
    health: number | null;
    p10: number | null;
    p50: number | null;
    p90: number | null;
    unit: string;
    /** The health index below which, or the hours within which `p10` falls, the alarm is active. */
    threshold: number;
    modelTrainedAt: string;
  };
}

/** What the last training of a kind's model did. */
export interface HealthModelSummary {
  kind: string;
  /** When the model in use was trained; null while there is none. */
  trainedAt: Date | null;
  runs: number;
  failures: number;
  metrics: string[];
  /** Why the last training produced no model (too little history); null after a success. */
  error: string | null;
  attemptedAt: Date;
  healthAlarmBelow: number | null;
  rulHorizonHours: number | null;
}

const SUMMARY = {
  kind: true,
  trainedAt: true,
  runs: true,
  failures: true,
  metrics: true,
  error: true,
  attemptedAt: true,
  healthAlarmBelow: true,
  rulHorizonHours: true,
} satisfies Prisma.HealthModelSelect;

/** A twin's readings in `[start, end]` grouped by time: devices report all metrics of a twin at one time. */
async function stepsOf(tx: Client, twinId: string, start: Date | null, end: Date | null): Promise<Timed[]> {
  return tx.$queryRaw`
    SELECT at, jsonb_object_agg(metric, value) AS values FROM "Reading"
     WHERE "twinId" = ${twinId} AND (${start}::timestamptz IS NULL OR at >= ${start}::timestamptz) AND (${end}::timestamptz IS NULL OR at <= ${end}::timestamptz)
     GROUP BY at ORDER BY at`;
}

/**
 * A twin's runs: from its first reading, or from a repair, to the next failure (run to failure)
 * or to now (censored). Readings while it is failed belong to no run.
 */
function runsOf(unit: string, steps: readonly Timed[], events: readonly { type: string; at: Date }[]): Run[] {
  const runs: Run[] = [];
  const run = (start: Date, end: Date | null, failed: boolean) => {
    const inRun = steps.filter((step) => step.at >= start && (end === null || step.at <= end));
    if (inRun.length > 0)
      runs.push({ unit, failed, steps: inRun.map((step) => ({ t: (step.at.getTime() - start.getTime()) / HOUR_MS, values: step.values })) });
  };
  let start: Date | null = steps[0]?.at ?? null;
  for (const event of events) {
    if (event.type === 'FAILURE') {
      if (start !== null) run(start, event.at, true);
      start = null;
    } else {
      start = event.at;
    }
  }
  if (start !== null) run(start, null, false);
  return runs;
}

/**
 * The RUL cap of a kind (health 1 = at least this far from failure): 0.65 × the median length of
 * its runs to failure, the proportion of C-MAPSS's customary cap of 125 cycles to its engines'
 * median life of about 195 — wear is not expected to show earlier in a run. A kind's lives may be
 * hours or years, so no fixed cap fits them all.
 */
function rulCap(runs: readonly Run[]): number {
  const lives = runs
    .filter((run) => run.failed && run.steps.length > 0)
    .map((run) => run.steps.at(-1)!.t)
    .sort((a, b) => a - b);
  const median = lives.length === 0 ? 0 : (lives[(lives.length - 1) >> 1]! + lives[lives.length >> 1]!) / 2;
  // Without lives to go by, training refuses for too little history anyway.
  return Math.max(1, 0.65 * median);
}

/** A kind's alarm thresholds in effect: its own, else the organization's. */
export function thresholdsOf(own: { healthAlarmBelow: number | null; rulHorizonHours: number | null }, org: HealthThresholds): HealthThresholds {
  return { healthAlarmBelow: own.healthAlarmBelow ?? org.healthAlarmBelow, rulHorizonHours: own.rulHorizonHours ?? org.rulHorizonHours };
}

/**
 * Trains the health and RUL model of a kind from its fleet's runs and stores it. One training per
 * kind at a time across replicas (a transaction-scoped advisory lock): a second waits, then trains
 * on what the first saw and more. Too little history keeps the previous model (or none) and
 * records why.
 */
export function trainHealthModel(db: OrgDb, kind: string): Promise<HealthModelSummary> {
  return db.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM pg_advisory_xact_lock(hashtext(${`twinx:health:${kind}`}))`;
      const now = new Date();
      // The kind's whole history in two queries, split per twin here (twins in id order, as the folds expect).
      const events = await tx.maintenanceEvent.findMany({
        where: { twin: { kind } },
        orderBy: [{ twinId: 'asc' }, { at: 'asc' }, { id: 'asc' }],
        select: { twinId: true, type: true, at: true },
      });
      const steps = await tx.$queryRaw<(Timed & { twinId: string })[]>`
        SELECT r."twinId", r.at, jsonb_object_agg(r.metric, r.value) AS values FROM "Reading" r JOIN "Twin" t ON t.id = r."twinId"
         WHERE t.kind = ${kind} GROUP BY r."twinId", r.at ORDER BY r."twinId", r.at`;
      const twins = await tx.twin.findMany({ where: { kind }, select: { id: true }, orderBy: { id: 'asc' } });
      const stepsOfTwin = stepsByTwin(steps);
      const eventsOfTwin = new Map<string, (typeof events)[number][]>();
      for (const event of events) eventsOfTwin.set(event.twinId, [...(eventsOfTwin.get(event.twinId) ?? []), event]);
      const runs = twins.flatMap((twin) => runsOf(twin.id, stepsOfTwin.get(twin.id) ?? [], eventsOfTwin.get(twin.id) ?? []));
      const stats = {
        runs: runs.length,
        failures: runs.filter((run) => run.failed).length,
        metrics: [...new Set(runs.flatMap((run) => run.steps.flatMap((step) => Object.keys(step.values))))].sort(),
        attemptedAt: now,
      };
      let trained: { model: Prisma.InputJsonValue; trainedAt: Date; error: null } | { error: string };
      try {
        trained = { model: (await trainRulModel(runs, { cap: rulCap(runs) })) as unknown as Prisma.InputJsonValue, trainedAt: now, error: null };
      } catch (error) {
        if (!(error instanceof TwinxError && error.code === ErrorCode.INVALID_INPUT)) throw error;
        trained = { error: error.message };
      }
      return tx.healthModel.upsert({ where: { kind }, create: { kind, ...stats, ...trained }, update: { ...stats, ...trained }, select: SUMMARY });
    },
    // Reading a kind's history can take a while; the default 5 s would cut a large fleet.
    { timeout: 10 * 60_000, maxWait: 10 * 60_000 },
  );
}

/** Sets a kind's alarm thresholds (null: the organization's). */
export function setHealthThresholds(db: OrgDb, kind: string, thresholds: Partial<Record<keyof HealthThresholds, number | null>>): Promise<HealthModelSummary> {
  return db.healthModel.upsert({ where: { kind }, create: { kind, metrics: [], ...thresholds }, update: thresholds, select: SUMMARY });
}

/** The last training of a kind's model; null when never trained. */
export function healthModelSummary(db: OrgDb, kind: string): Promise<HealthModelSummary | null> {
  return db.healthModel.findUnique({ where: { kind }, select: SUMMARY });
}

/**
 * Trains kinds' models in the background after failures are recorded: one training per kind at a
 * time in this process, and a request arriving during one runs once more after it (the failure
 * may have committed after that training read the history).
 */
export class HealthTrainer {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private stopped = false;

  constructor(private readonly options: { db: OrgDb; logger: Logger }) {}

  schedule(kind: string): void {
    if (this.stopped) return;
    if (this.running.has(kind)) {
      this.again.add(kind);
      return;
    }
    const run = async () => {
      do {
        this.again.delete(kind);
        try {
          const summary = await trainHealthModel(this.options.db, kind);
          this.options.logger.info({ kind, trainedAt: summary.trainedAt, error: summary.error }, 'health model trained');
        } catch (error) {
          this.options.logger.error({ err: error, kind }, 'health model training failed');
        }
      } while (this.again.has(kind) && !this.stopped);
    };
    this.running.set(
      kind,
      run().finally(() => this.running.delete(kind)),
    );
  }

  /** Resolves once every training scheduled so far has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  /** Schedules nothing more and waits for the trainings under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }
}

/** Ends a twin's run (a failure or a repair was recorded): the next step starts a new one. Alarm flags stay, so that the next update clears them. */
export async function resetRun(tx: Prisma.TransactionClient, twinId: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE "TwinHealth" SET state = 'null', "runStart" = NULL, "lastStepAt" = NULL, "modelTrainedAt" = NULL,
           health = NULL, p10 = NULL, p50 = NULL, p90 = NULL, "updatedAt" = now()
     WHERE "twinId" = ${twinId}`;
}

/** Where the twin's current run starts: its last repair, or its first reading; null while a failure is open. */
async function currentRunStart(tx: Prisma.TransactionClient, twinId: string): Promise<Date | null> {
  const last = await tx.maintenanceEvent.findFirst({ where: { twinId }, orderBy: [{ at: 'desc' }, { id: 'desc' }], select: { type: true, at: true } });
  if (last?.type === 'FAILURE') return null;
  if (last) return last.at;
  const first = await tx.reading.findFirst({ where: { twinId }, orderBy: { at: 'asc' }, select: { at: true } });
  return first?.at ?? null;
}

interface HealthRow {
  twinId: string;
  state: RulState | null;
  runStart: Date | null;
  lastStepAt: Date | null;
  modelTrainedAt: Date | null;
  healthAlarm: boolean;
  rulAlarm: boolean;
  model: RulModel;
  trainedAt: Date;
  healthAlarmBelow: number | null;
  rulHorizonHours: number | null;
}

/** The batch's steps per twin in time order, readings of one twin at one time merged. */
function stepsByTwin(steps: readonly HealthStep[]): Map<string, HealthStep[]> {
  const byTwin = new Map<string, Map<number, HealthStep>>();
  for (const step of steps) {
    const times = byTwin.get(step.twinId) ?? new Map<number, HealthStep>();
    const same = times.get(step.at.getTime());
    times.set(step.at.getTime(), same ? { ...same, values: { ...same.values, ...step.values } } : step);
    byTwin.set(step.twinId, times);
  }
  return new Map([...byTwin].map(([twinId, times]) => [twinId, [...times.values()].sort((a, b) => a.at.getTime() - b.at.getTime())]));
}

function decisions(slug: string, row: HealthRow, estimate: ReturnType<typeof estimateRul>, thresholds: HealthThresholds): HealthAlarmDecision[] {
  const { healthAlarmBelow: below, rulHorizonHours: horizon } = thresholdsOf(row, thresholds);
  const healthActive = estimate !== null && (estimate.health < below || (row.healthAlarm && estimate.health < below + HEALTH_DEADBAND));
  const rulActive = estimate !== null && (estimate.p10 <= horizon || (row.rulAlarm && estimate.p10 <= horizon * (1 + RUL_DEADBAND)));
  const id = globalTwinId(slug, row.twinId);
  const values = { health: estimate?.health ?? null, p10: estimate?.p10 ?? null, p50: estimate?.p50 ?? null, p90: estimate?.p90 ?? null, unit: RUL_UNIT };
  const modelTrainedAt = row.trainedAt.toISOString();
  const result: HealthAlarmDecision[] = [];
  if (healthActive !== row.healthAlarm) {
    result.push({
      twinId: row.twinId,
      cause: 'health',
      active: healthActive,
      severity: estimate !== null && estimate.health < below / 2 ? 'CRITICAL' : 'HIGH',
      explanation: {
        message: healthActive
          ? `Health of ${id} is ${estimate!.health.toFixed(2)}, below ${below}.`
          : `Health of ${id} is back above ${below}, or the twin started a new run.`,
        ...values,
        threshold: below,
        modelTrainedAt,
      },
    });
  }
  if (rulActive !== row.rulAlarm) {
    result.push({
      twinId: row.twinId,
      cause: 'rul',
      active: rulActive,
      severity: estimate !== null && estimate.p50 <= horizon ? 'CRITICAL' : 'HIGH',
      explanation: {
        message: rulActive
          ? `Remaining useful life of ${id}: p10 ${estimate!.p10.toFixed(1)} ${RUL_UNIT}, within the ${horizon}-hour horizon (p50 ${estimate!.p50.toFixed(1)}).`
          : `Remaining useful life of ${id} is beyond the ${horizon}-hour horizon, or the twin started a new run.`,
        ...values,
        threshold: horizon,
        modelTrainedAt,
      },
    });
  }
  return result;
}

/**
 * Feeds new steps of twins into their kind's model, inside the ingest transaction: locks the
 * twins' health rows (in id order, so concurrent batches cannot deadlock), feeds each twin's steps
 * newer than its last one in time order (older or equal ones are ignored: the state moves only
 * forward), and stores the estimate. A twin whose state is missing, reset by a failure or repair,
 * or built with another model, is rebuilt from its current run's readings first. Twins of kinds
 * with no trained model are left alone. Returns the `health` and `rul` alarm conditions that
 * changed, to raise or clear.
 */
export async function updateHealth(
  tx: Prisma.TransactionClient,
  slug: string,
  steps: readonly HealthStep[],
  thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS,
): Promise<HealthAlarmDecision[]> {
  if (steps.length === 0) return [];
  const byTwin = stepsByTwin(steps);
  const ids = [...byTwin.keys()];
  // Rows for the twins whose kind has a model; the others are left alone.
  await tx.$executeRaw`
    INSERT INTO "TwinHealth" ("twinId", state)
    SELECT t.id, 'null'::jsonb FROM "Twin" t JOIN "HealthModel" m ON m.kind = t.kind AND m.model IS NOT NULL WHERE t.id = ANY(${ids}::text[])
    ON CONFLICT DO NOTHING`;
  const rows = await tx.$queryRaw<HealthRow[]>`
    SELECT h."twinId", h.state, h."runStart", h."lastStepAt", h."modelTrainedAt", h."healthAlarm", h."rulAlarm",
           m.model, m."trainedAt", m."healthAlarmBelow", m."rulHorizonHours"
      FROM "TwinHealth" h JOIN "Twin" t ON t.id = h."twinId" JOIN "HealthModel" m ON m.kind = t.kind
     WHERE h."twinId" = ANY(${ids}::text[]) AND m.model IS NOT NULL
     ORDER BY h."twinId" FOR UPDATE OF h`;
  const result: HealthAlarmDecision[] = [];
  for (const row of rows) {
    const batch = byTwin.get(row.twinId)!;
    let incoming: readonly Timed[] = batch;
    let { runStart, lastStepAt } = row;
    const current = row.state !== null && row.modelTrainedAt?.getTime() === row.trainedAt.getTime();
    const state = current ? row.state! : newRulState();
    if (!current) {
      runStart = await currentRunStart(tx, row.twinId);
      lastStepAt = null;
      if (runStart !== null) {
        incoming = [...(await stepsOf(tx, row.twinId, runStart, batch.at(-1)!.at)), ...batch];
      }
    }
    if (runStart === null) {
      // Failed and not repaired yet: no run to estimate, and the failure ends its alarms.
      const cleared = decisions(slug, row, null, thresholds);
      result.push(...cleared);
      if (cleared.length > 0) await tx.$executeRaw`UPDATE "TwinHealth" SET "healthAlarm" = false, "rulAlarm" = false WHERE "twinId" = ${row.twinId}`;
      continue;
    }
    const before = lastStepAt;
    for (const step of incoming) {
      if (step.at < runStart || (lastStepAt !== null && step.at <= lastStepAt)) continue;
      updateRulState(row.model, state, { t: (step.at.getTime() - runStart.getTime()) / HOUR_MS, values: step.values });
      lastStepAt = step.at;
    }
    if (current && lastStepAt === before) continue;
    const estimate = estimateRul(row.model, state);
    const changed = decisions(slug, row, estimate, thresholds);
    result.push(...changed);
    const flag = (cause: HealthAlarmDecision['cause'], was: boolean) => changed.find((d) => d.cause === cause)?.active ?? was;
    await tx.twinHealth.update({
      where: { twinId: row.twinId },
      data: {
        state: state as unknown as Prisma.InputJsonValue,
        runStart,
        lastStepAt,
        modelTrainedAt: row.trainedAt,
        health: estimate?.health ?? null,
        p10: estimate?.p10 ?? null,
        p50: estimate?.p50 ?? null,
        p90: estimate?.p90 ?? null,
        healthAlarm: flag('health', row.healthAlarm),
        rulAlarm: flag('rul', row.rulAlarm),
        updatedAt: new Date(),
      },
    });
  }
  return result;
}

/** A twin's health and remaining life (the `Health` GraphQL type); null while its kind has no model. Needs `analytics:read` on the twin. */
export async function healthOf(ctx: OrgBase, twin: TwinFacts) {
  ctx.access.requireTwin('analytics:read', twin);
  ctx.access.read([twin.id]);
  const [row] = await ctx.db.$queryRaw<
    {
      trainedAt: Date;
      health: number | null;
      p10: number | null;
      p50: number | null;
      p90: number | null;
      updatedAt: Date | null;
      modelTrainedAt: Date | null;
    }[]
  >`
    SELECT m."trainedAt", h.health, h.p10, h.p50, h.p90, h."updatedAt", h."modelTrainedAt"
      FROM "HealthModel" m LEFT JOIN "TwinHealth" h ON h."twinId" = ${twin.id}
     WHERE m.kind = ${twin.kind} AND m.model IS NOT NULL`;
  if (!row) return null;
  return {
    index: row.health,
    p10: row.p10,
    p50: row.p50,
    p90: row.p90,
    unit: RUL_UNIT,
    updatedAt: row.updatedAt,
    modelTrainedAt: row.modelTrainedAt ?? row.trainedAt,
  };
}
