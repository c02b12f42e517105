/**
 * Disruptions an organization announces of its own twins, so that the impact downstream can be
 * computed and delivered to the customers it hits (ARCHITECTURE.md, "Impact across the supply
 * network"): a failure recorded stops the twin until its repair; an alarm of severity HIGH or
 * CRITICAL says what happens if the twin stops now, and a `rul` alarm when its predicted failure
 * comes. Each is announced in the transaction that records its cause, OPEN, then CLEARED with the
 * same id and window (a dashboard that was told of it OPEN is told of its CLEARED).
 */
import type { AlarmView, DisruptionView } from '../../../lib/events.ts';
import type { Alarm, MaintenanceEvent, Prisma } from '../../../prisma/generated/org/client.ts';
import { disruptionChanged } from '../events/outbox.ts';
import { HOUR_MS } from '../../../lib/impact/loss.ts';

type Tx = Prisma.TransactionClient;

/** How long a disruption lasts when the twin has no repair on record. */
export const DEFAULT_DISRUPTION_HOURS = 24;

/** The severities whose alarms announce a disruption. */
const DISRUPTING: readonly AlarmView['severity'][] = ['HIGH', 'CRITICAL'];

/** The twin a disruption is about, as its events say it (local id). */
interface DisruptedTwin {
  id: string;
  kind: string;
  tags: string[];
}

/**
 * Mean time to repair of a twin (local id), in ms: the mean from each failure to its repair, over
 * the repairs recorded by `asOf`; null when there are none. Failures and repairs alternate per
 * twin in time order (maintenance.ts), so a failure's repair is the record after it.
 */
export async function meanTimeToRepair(tx: Tx, twinId: string, asOf: Date): Promise<number | null> {
  const [row] = await tx.$queryRaw<{ ms: number | null }[]>`
    SELECT (avg(extract(epoch FROM repaired - at)) * 1000)::float8 AS ms FROM (
      SELECT type, at, lead(at) OVER w AS repaired, lead("recordedAt") OVER w AS "repairRecordedAt"
        FROM "MaintenanceEvent" WHERE "twinId" = ${twinId} WINDOW w AS (ORDER BY at, id)) e
     WHERE type = 'FAILURE' AND "repairRecordedAt" <= ${asOf}`;
  return row?.ms ?? null;
}

/**
 * Announces a disruption stopping the twin from `from` for its mean time to repair as known when
 * it was opened (else `DEFAULT_DISRUPTION_HOURS`): the same window whether OPEN or CLEARED. A twin
 * repaired at once on average counts as one with no repair on record.
 */
async function announce(tx: Tx, org: string, twin: DisruptedTwin, disruption: Pick<DisruptionView, 'id' | 'cause' | 'state'> & { from: Date; openedAt: Date }) {
  const mttr = await meanTimeToRepair(tx, twin.id, disruption.openedAt);
  const lastsMs = mttr !== null && mttr > 0 ? mttr : DEFAULT_DISRUPTION_HOURS * HOUR_MS;
  const { from, openedAt, ...rest } = disruption;
  await disruptionChanged(tx, org, twin, {
    ...rest,
    from: from.toISOString(),
    to: new Date(from.getTime() + lastsMs).toISOString(),
    capacity: 0,
    openedAt: openedAt.toISOString(),
  });
}

/** A failure recorded stops the twin from the failure's time (OPEN); its repair ends it (CLEARED). */
export function failureDisruption(tx: Tx, org: string, twin: DisruptedTwin, failure: MaintenanceEvent, state: DisruptionView['state']): Promise<void> {
  return announce(tx, org, twin, { id: `failure:${failure.id}`, cause: 'STOPPED', state, from: failure.at, openedAt: failure.recordedAt });
}

/**
 * An alarm of severity HIGH or CRITICAL raised or re-activated opens a disruption, cleared closes
 * it: from the alarm's activation ("if it stops now"), or for a `rul` alarm from its predicted
 * failure (activation + p50 of the remaining life, in hours, as its explanation keeps it).
 * Alarms of lower severity announce nothing.
 */
export async function alarmDisruption(tx: Tx, org: string, twin: DisruptedTwin, alarm: Alarm): Promise<void> {
  if (!DISRUPTING.includes(alarm.severity)) return;
  const predicted = alarm.cause === 'rul';
  const p50 = (alarm.explanation as AlarmView['explanation']).p50;
  const from = predicted && typeof p50 === 'number' ? new Date(alarm.activatedAt.getTime() + p50 * HOUR_MS) : alarm.activatedAt;
  await announce(tx, org, twin, {
    id: `alarm:${alarm.id}`,
    cause: predicted ? 'PREDICTED_FAILURE' : 'ALARM',
    state: alarm.active ? 'OPEN' : 'CLEARED',
    from,
    openedAt: alarm.activatedAt,
  });
}
