/**
 * Analysis of readings as they are stored: every reading is scored exactly once, in time order
 * per series (twin + metric), inside the transaction that stores it. The series' analysis rows
 * are locked first (`FOR UPDATE`, in key order so that batches never deadlock on them), so
 * batches of one series serialize and each finds the state the previous one committed; a
 * reading not newer than the series' last analysed one (late, or a batch sent again) is stored
 * but not analysed, so it can never corrupt the state. State, scores, alarms and their events
 * commit together with the readings, or not at all: restarts, replicas and replays give the
 * same results.
 */
import type { Prisma } from '../../../prisma/generated/org/client.ts';
import type { OrgDb } from '../db.ts';
import { raiseOrClearAlarm, type AlarmInput } from './alarms.ts';
import { anomalyThreshold, newDetectorState, scoreReading, type DetectorState } from './anomaly.ts';
import { updateHealth, type HealthStep, type HealthThresholds } from './health.ts';

type Tx = Prisma.TransactionClient;

/** A batch's readings as parallel columns (telemetry/ingest.ts): local twin ids, metrics, RFC 3339 times, values. */
export interface BatchColumns {
  twinIds: readonly string[];
  metrics: readonly string[];
  ats: readonly string[];
  values: readonly number[];
}

/** What analysis knows of one series, read and locked in one statement. */
interface Series {
  twinId: string;
  metric: string;
  lastAt: Date | null;
  state: DetectorState;
  calm: number;
  min: number | null;
  max: number | null;
  sensitivity: number | null;
  rangeActive: boolean;
  anomalyActive: boolean;
  /** Whether the twin's kind has a health model: only then does its health move. */
  healthModel: boolean;
  kind: string;
  tags: string[];
}

/** Hysteresis of anomaly alarms: cleared after this many readings in a row scored below `CLEAR_RATIO` × the threshold. */
const CALM_READINGS = 5;
const CLEAR_RATIO = 0.7;
/** Range alarms clear once the value is back inside by this share of the range (of |limit| for a one-sided range). */
const DEADBAND = 0.02;
/** Scores from which an anomaly alarm is HIGH rather than MEDIUM. */
const HIGH_SCORE = 0.9;

/** $1, $2: the series. The metric's own sensitivity wins over its twin kind's. */
const LOCK = `
  SELECT s."twinId", s.metric, s."lastAt", s.state, t.kind, t.tags, s.calm, m.min, m.max, coalesce(m.sensitivity, k.sensitivity) AS sensitivity,
         EXISTS (SELECT 1 FROM "Alarm" a WHERE a."twinId" = s."twinId" AND a."openCause" = 'range:' || s.metric AND a.active) AS "rangeActive",
         EXISTS (SELECT 1 FROM "Alarm" a WHERE a."twinId" = s."twinId" AND a."openCause" = 'anomaly:' || s.metric AND a.active) AS "anomalyActive",
         EXISTS (SELECT 1 FROM "HealthModel" h WHERE h.kind = t.kind AND h.model IS NOT NULL) AS "healthModel"
    FROM "SeriesAnalysis" s
    JOIN unnest($1::text[], $2::text[]) AS w("twinId", metric) ON w."twinId" = s."twinId" AND w.metric = s.metric
    JOIN "Metric" m ON m."twinId" = s."twinId" AND m.name = s.metric
    JOIN "Twin" t ON t.id = s."twinId"
    LEFT JOIN "KindAnalytics" k ON k.kind = t.kind
   ORDER BY s."twinId", s.metric
     FOR UPDATE OF s`;

/** $1, $2: the series; $3 a fresh detector state. */
const CREATE = `
  INSERT INTO "SeriesAnalysis" ("twinId", metric, state)
  SELECT w."twinId", w.metric, $3 FROM unnest($1::text[], $2::text[]) AS w("twinId", metric) ORDER BY 1, 2
  ON CONFLICT DO NOTHING`;

/**
 * The write-back of the series analysed, as a CTE (named `analysed`) of the statement that stores
 * the readings: one round trip less. Its parameters, from `$first`, are `Analysis.writeBack`:
 * per series its new state (JSON text), last analysed time and calm count.
 */
export function writeBackCte(first: number): string {
  const [twinIds, metrics, states, ats, calms] = [0, 1, 2, 3, 4].map((i) => `$${first + i}`);
  return `analysed AS (
       UPDATE "SeriesAnalysis" s SET state = u.state, "lastAt" = u.at, calm = u.calm
         FROM unnest(${twinIds}::text[], ${metrics}::text[], ${states}::text[], ${ats}::timestamptz[], ${calms}::int[]) AS u("twinId", metric, state, at, calm)
        WHERE s."twinId" = u."twinId" AND s.metric = u.metric RETURNING 1)`;
}

/** What the statement storing a batch takes from its analysis. */
export interface Analysis {
  /** Per reading (aligned with the columns), its score, null when not analysed. */
  scores: (number | null)[];
  /** The parameters of `writeBackCte`. */
  writeBack: unknown[];
}

/** Series first seen in a batch: their analysis rows are created outside the batch's transaction, which then starts again. */
class NewSeries extends Error {
  constructor(
    readonly twinIds: string[],
    readonly metrics: string[],
  ) {
    super('new series');
  }
}

const keyOf = (twinId: string, metric: string) => `${twinId}\n${metric}`;

/** Scores one series' readings of the batch (indices into the columns) in time order, and notes the alarm changes they make. */
function analyse(org: string, series: Series, indices: number[], columns: BatchColumns, scores: (number | null)[], alarms: AlarmInput[]): boolean {
  const settings = series.sensitivity === null ? {} : { sensitivity: series.sensitivity };
  const threshold = anomalyThreshold(settings);
  const { min, max } = series;
  const deadband = DEADBAND * (min !== null && max !== null ? max - min : Math.abs(min ?? max ?? 0));
  const alarm = (cause: string, active: boolean, severity: AlarmInput['severity'], explanation: AlarmInput['explanation']) =>
    alarms.push({ org, twinId: series.twinId, cause: `${cause}:${series.metric}`, active, severity, explanation });
  let last = series.lastAt?.getTime() ?? -Infinity;
  const analysed = indices.map((index) => ({ index, at: Date.parse(columns.ats[index]!) })).sort((a, b) => a.at - b.at);
  let any = false;
  for (const { index, at } of analysed) {
    if (at <= last) continue;
    last = at;
    any = true;
    const value = columns.values[index]!;
    const result = scoreReading(series.state, at, value, settings);
    scores[index] = result.score;
    const readingAt = columns.ats[index]!;
    if (result.score >= threshold) {
      series.calm = 0;
      if (!series.anomalyActive) {
        series.anomalyActive = true;
        alarm('anomaly', true, result.score >= HIGH_SCORE ? 'HIGH' : 'MEDIUM', {
          detector: result.detector,
          score: result.score,
          threshold,
          baseline: result.baseline,
          spread: result.spread,
          value,
          at: readingAt,
        });
      }
    } else if (series.anomalyActive) {
      series.calm = result.score < CLEAR_RATIO * threshold ? series.calm + 1 : 0;
      if (series.calm >= CALM_READINGS) {
        series.anomalyActive = false;
        series.calm = 0;
        alarm('anomaly', false, 'MEDIUM', { detector: result.detector, score: result.score, value, at: readingAt });
      }
    }
    const below = min !== null && value < min;
    const above = max !== null && value > max;
    if ((below || above) && !series.rangeActive) {
      series.rangeActive = true;
      alarm('range', true, 'HIGH', { rule: 'range', value, min, max, limit: below ? min : max, at: readingAt });
    } else if (series.rangeActive && (min === null || value >= min + deadband) && (max === null || value <= max - deadband)) {
      series.rangeActive = false;
      alarm('range', false, 'HIGH', { rule: 'range', value, min, max, at: readingAt });
    }
  }
  if (any) series.lastAt = new Date(last);
  return any;
}

/**
 * The batch's readings of these twins as their steps: the readings of a twin at one time together
 * (devices report a twin's metrics at once).
 */
function healthSteps(columns: BatchColumns, twins: ReadonlySet<string>): HealthStep[] {
  const steps = new Map<string, HealthStep>();
  columns.twinIds.forEach((twinId, index) => {
    if (!twins.has(twinId)) return;
    const key = keyOf(twinId, columns.ats[index]!);
    let step = steps.get(key);
    if (!step) steps.set(key, (step = { twinId, at: new Date(columns.ats[index]!), values: {} }));
    step.values[columns.metrics[index]!] = columns.values[index]!;
  });
  return [...steps.values()];
}

/**
 * Runs `store` in one transaction with the analysis of the batch: locks the batch's series,
 * scores the readings newer than each series' last analysed one, hands `store` the scores and
 * the detectors' new state to write with the readings (`writeBackCte`), moves the health and RUL
 * of twins whose kind has a model (analytics/health.ts), then records the alarms raised or
 * cleared and their events. One round trip for the lock, one for the store and write-back; twins
 * whose kind has a health model, and alarm changes, add theirs.
 */
export async function withAnalysis<T>(
  db: OrgDb,
  org: string,
  columns: BatchColumns,
  thresholds: HealthThresholds,
  store: (tx: Tx, analysis: Analysis) => Promise<T>,
): Promise<T> {
  const bySeries = new Map<string, number[]>();
  columns.twinIds.forEach((twinId, index) => {
    const key = keyOf(twinId, columns.metrics[index]!);
    const indices = bySeries.get(key);
    if (indices) indices.push(index);
    else bySeries.set(key, [index]);
  });
  const keys = [...bySeries.keys()].map((key) => key.split('\n') as [string, string]);
  const twinIds = keys.map(([twinId]) => twinId);
  const metrics = keys.map(([, metric]) => metric);
  for (;;) {
    try {
      return await db.$transaction(
        async (tx) => {
          const rows = await tx.$queryRawUnsafe<(Omit<Series, 'state'> & { state: string })[]>(LOCK, twinIds, metrics);
          const locked: Series[] = rows.map((row) => ({ ...row, state: JSON.parse(row.state) as DetectorState }));
          if (locked.length < keys.length) {
            const found = new Set(locked.map((series) => keyOf(series.twinId, series.metric)));
            const missing = keys.filter(([twinId, metric]) => !found.has(keyOf(twinId, metric)));
            throw new NewSeries(
              missing.map(([twinId]) => twinId),
              missing.map(([, metric]) => metric),
            );
          }
          const scores: (number | null)[] = columns.twinIds.map(() => null);
          const alarms: AlarmInput[] = [];
          const changed = locked.filter((series) => analyse(org, series, bySeries.get(keyOf(series.twinId, series.metric))!, columns, scores, alarms));
          const result = await store(tx, {
            scores,
            writeBack: [
              changed.map((series) => series.twinId),
              changed.map((series) => series.metric),
              changed.map((series) => JSON.stringify(series.state)),
              changed.map((series) => series.lastAt!.toISOString()),
              changed.map((series) => series.calm),
            ],
          });
          const modelled = new Set(locked.filter((series) => series.healthModel).map((series) => series.twinId));
          if (modelled.size > 0)
            for (const decision of await updateHealth(tx, org, healthSteps(columns, modelled), thresholds)) alarms.push({ org, ...decision });
          const twins = new Map(locked.map((series) => [series.twinId, { id: series.twinId, kind: series.kind, tags: series.tags }]));
          for (const input of alarms) await raiseOrClearAlarm(tx, input, twins.get(input.twinId)!);
          return result;
        },
        // Batches of one series wait for each other's transaction: give them time to.
        { maxWait: 10_000, timeout: 30_000 },
      );
    } catch (error) {
      if (!(error instanceof NewSeries)) throw error;
      // Committed on its own: an empty state is the same whoever creates it.
      await db.$executeRawUnsafe(CREATE, error.twinIds, error.metrics, JSON.stringify(newDetectorState()));
    }
  }
}
