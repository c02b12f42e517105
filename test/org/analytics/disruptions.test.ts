// Disruptions an organization announces of its twins, end to end on real PostgreSQL and NATS:
// a failure recorded stops the twin for its mean time to repair (from its history, else 24 h),
// its repair clears it; a HIGH alarm opens one "if it stops now", its clearing closes it; an RUL
// alarm opens one at the predicted failure; a LOW alarm announces nothing. Each is read off the
// stream and checked against the organization's published keys, as any consumer does.
import { jetstream } from '@nats-io/jetstream';
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromJetStream, verifyMessage } from '../../../lib/bus/signing.ts';
import type { DisruptionView, TwinEvent } from '../../../lib/events.ts';
import { natsNames } from '../../../lib/nats.ts';
import { raiseOrClearAlarm } from '../../../subgraphs/org/analytics/alarms.ts';
import { startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;
let names: ReturnType<typeof natsNames>;
let jwks: ReturnType<typeof createLocalJWKSet>;

const HOUR = 3_600_000;
const daysAgo = (days: number) => Date.now() - days * 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

/** The twin's events in stream order, each verified as signed by acme for its subject. */
async function eventsOf(localId: string): Promise<TwinEvent[]> {
  await acme.eventsPublished();
  const consumer = await jetstream(acme.nats).consumers.get(names.eventsStream, { filter_subjects: names.eventSubject('acme', localId, '*') });
  const events: TwinEvent[] = [];
  const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
  for await (const message of batch) {
    const verified = await verifyMessage(fromJetStream(message), {
      subjectPrefix: acme.subjectPrefix,
      keys: { messageKey: (org) => (org === 'acme' ? jwks : undefined) },
    });
    if (verified.kind === 'event') events.push(verified.event);
    if (message.info.pending === 0) break;
  }
  return events;
}

async function disruptionsOf(localId: string): Promise<DisruptionView[]> {
  return (await eventsOf(localId)).flatMap((event) => (event.type === 'disruption' ? [event.disruption] : []));
}

async function record(type: 'Failure' | 'Repair', twinId: string, at: number): Promise<void> {
  const response = await acme.request(`mutation($id: ID!, $at: DateTime!) { acme { record${type}(twinId: $id, at: $at) { at } } }`, {
    id: twinId,
    at: iso(at),
  });
  expect(response.errors).toBeUndefined();
}

function twin(id: string, kind = 'furnace') {
  return acme.createTwin({ id, name: id, kind, tags: ['hot'], metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }] });
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  names = natsNames(acme.subjectPrefix);
  const response = await fetch(new URL('/.well-known/jwks.json', acme.url));
  jwks = createLocalJWKSet((await response.json()) as JSONWebKeySet);
});
afterAll(() => disposers.dispose());

describe('a failure recorded', () => {
  it('stops the twin from the failure for its mean time to repair (24 h with no history), cleared by the repair with the same id and window', async () => {
    await twin('acme:furnace-1');
    const t0 = daysAgo(30);
    const t1 = daysAgo(20);
    const t2 = daysAgo(1);
    await record('Failure', 'acme:furnace-1', t0);
    await record('Repair', 'acme:furnace-1', t0 + 6 * HOUR);
    await record('Failure', 'acme:furnace-1', t1);
    await record('Repair', 'acme:furnace-1', t1 + 10 * HOUR);
    await record('Failure', 'acme:furnace-1', t2);
    const failures = await acme.db.maintenanceEvent.findMany({ where: { twinId: 'furnace-1', type: 'FAILURE' }, orderBy: { id: 'asc' } });
    const ids = failures.map((failure) => `failure:${failure.id}`);

    const before = await disruptionsOf('furnace-1');
    const window = (id: string, from: number, hours: number) => ({ id, cause: 'STOPPED', from: iso(from), to: iso(from + hours * HOUR), capacity: 0 });
    expect(before).toMatchObject([
      { ...window(ids[0]!, t0, 24), state: 'OPEN' },
      { ...window(ids[0]!, t0, 24), state: 'CLEARED' },
      // The mean of what was repaired before: 6 h.
      { ...window(ids[1]!, t1, 6), state: 'OPEN' },
      { ...window(ids[1]!, t1, 6), state: 'CLEARED' },
      // (6 h + 10 h) / 2.
      { ...window(ids[2]!, t2, 8), state: 'OPEN' },
    ]);
    expect(before[4]!.openedAt).toBe(failures[2]!.recordedAt.toISOString());

    await record('Repair', 'acme:furnace-1', t2 + 2 * HOUR);
    const after = await disruptionsOf('furnace-1');
    expect(after).toHaveLength(6);
    // As it was when opened: this repair does not change the window taken back.
    expect(after[5]).toEqual({ ...before[4], state: 'CLEARED' });
  });
});

describe('alarms', () => {
  it('a HIGH alarm opens a disruption from its activation ("if it stops now"), its clearing closes it', async () => {
    await twin('acme:press-1', 'press');
    await acme.ingest([{ twinId: 'acme:press-1', metric: 'temperature', at: iso(daysAgo(1)), value: 150 }]);
    const events = await eventsOf('press-1');
    const alarm = events.find((event) => event.type === 'alarm');
    expect(alarm?.type === 'alarm' && alarm.alarm.severity).toBe('HIGH');
    const activatedAt = alarm?.type === 'alarm' ? Date.parse(alarm.alarm.activatedAt) : NaN;
    const open = {
      id: `alarm:${alarm?.type === 'alarm' && alarm.alarm.id}`,
      cause: 'ALARM',
      from: iso(activatedAt),
      to: iso(activatedAt + 24 * HOUR),
      capacity: 0,
    };
    expect(await disruptionsOf('press-1')).toEqual([{ ...open, state: 'OPEN', openedAt: iso(activatedAt) }]);
    // In the same transaction as the alarm: right after it in the stream.
    expect(events.slice(-2).map((event) => event.type)).toEqual(['alarm', 'disruption']);

    await acme.ingest([{ twinId: 'acme:press-1', metric: 'temperature', at: iso(daysAgo(1) + 60_000), value: 50 }]);
    expect(await disruptionsOf('press-1')).toEqual([
      { ...open, state: 'OPEN', openedAt: iso(activatedAt) },
      { ...open, state: 'CLEARED', openedAt: iso(activatedAt) },
    ]);
  });

  it('an RUL alarm opens a predicted failure at activation + p50; LOW and MEDIUM alarms announce nothing', async () => {
    await twin('acme:pump-1', 'pump');
    const pump = { id: 'pump-1', kind: 'pump', tags: ['hot'] };
    const raise = (cause: string, severity: 'LOW' | 'MEDIUM' | 'CRITICAL', explanation: Record<string, number | string>) =>
      acme.db.$transaction((tx) => raiseOrClearAlarm(tx, { org: 'acme', twinId: 'pump-1', cause, active: true, severity, explanation }, pump));
    await raise('range:pressure', 'LOW', { rule: 'range' });
    await raise('anomaly:pressure', 'MEDIUM', { detector: 'ewma' });
    const rul = await raise('rul', 'CRITICAL', { p10: 20, p50: 36, p90: 50, unit: 'hours' });
    const activatedAt = Date.parse(rul!.activatedAt);
    expect(await disruptionsOf('pump-1')).toEqual([
      {
        id: `alarm:${rul!.id}`,
        cause: 'PREDICTED_FAILURE',
        state: 'OPEN',
        from: iso(activatedAt + 36 * HOUR),
        to: iso(activatedAt + 60 * HOUR),
        capacity: 0,
        openedAt: iso(activatedAt),
      },
    ]);
    // Three alarms raised, one disruption: nothing for the LOW and MEDIUM ones.
    expect((await eventsOf('pump-1')).filter((event) => event.type === 'alarm')).toHaveLength(3);
  });
});
