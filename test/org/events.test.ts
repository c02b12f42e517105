import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TwinEvent } from '../../lib/events.ts';
import { deleteStreams, natsConnected, natsNames, type NatsConnection } from '../../lib/nats.ts';
import { LOCK_IDLE_MS, PUBLISHER_LOCK, TAKE_PUBLISHER_LOCK } from '../../subgraphs/org/events/publisher.ts';
import { startNatsServer, type OwnNatsServer } from '../support/nats-server.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers, eventually, natsForTest, type TestBus } from '../support/services.ts';

const disposers = new Disposers();
let server: OwnNatsServer;
let nats: NatsConnection;
let acme: TestOrg;
let names: ReturnType<typeof natsNames>;
let network: TestBus;

const INGEST = `mutation($r: [ReadingInput!]!) { acme { ingestTelemetry(readings: $r) { accepted } } }`;

/** Every event of the stream about one twin, in stream order, with its Nats-Msg-Id. */
async function eventsOf(localId: string): Promise<{ seq: number; msgId: string | undefined; event: TwinEvent }[]> {
  const consumer = await jetstream(nats).consumers.get(names.eventsStream, { filter_subjects: names.eventSubject('acme', localId, '*') });
  const events = [];
  const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
  for await (const message of batch) {
    events.push({ seq: message.seq, msgId: message.headers?.get('Nats-Msg-Id'), event: message.json<TwinEvent>() });
    if (message.info.pending === 0) break;
  }
  return events;
}

beforeAll(async () => {
  server = await startNatsServer();
  disposers.add(() => server.dispose());
  network = await natsForTest(server);
  nats = network.nats;
  disposers.add(() => nats.close());
  names = natsNames(network.subjectPrefix);
  acme = await startOrg(disposers, 'acme', { network });
  disposers.add(() => deleteStreams(nats, network.subjectPrefix));
});
afterAll(() => disposers.dispose());

async function twin(id: string) {
  await acme.createTwin({ id, name: id, kind: 'furnace', tags: ['hot'], metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }] });
}

describe('events from an organization', () => {
  it('publishes lifecycle, state, alert and alarm events in commit order, each with its id as Nats-Msg-Id', async () => {
    await twin('acme:f-1');
    await acme.ingest([{ twinId: 'acme:f-1', metric: 'temperature', at: '2026-01-01T00:00:00Z', value: 50 }]);
    await acme.ingest([{ twinId: 'acme:f-1', metric: 'temperature', at: '2026-01-01T00:01:00Z', value: 150 }]);
    // A late reading changes no state: no event.
    await acme.ingest([{ twinId: 'acme:f-1', metric: 'temperature', at: '2025-12-31T00:00:00Z', value: 10 }]);
    await acme.eventsPublished();
    const events = await eventsOf('f-1');
    // The reading out of range also raises the twin's range alarm (HIGH: the disruption it opens
    // is announced too), in the same transaction.
    expect(events.map((e) => e.event.type)).toEqual(['twin', 'state', 'state', 'alert', 'alarm', 'disruption']);
    for (const { msgId, event } of events) {
      expect(msgId).toBe(event.eventId);
      expect(event).toMatchObject({ org: 'acme', twinId: 'acme:f-1', kind: 'furnace', tags: ['hot'] });
    }
    const alert = events[3]!.event;
    expect(alert.type === 'alert' && alert.state.status).toBe('ALERT');
    expect(alert.type === 'alert' && alert.state.metrics).toEqual([{ metric: 'temperature', unit: 'C', value: 150, at: expect.any(String), inRange: false }]);
    expect(await acme.db.outboxEvent.count({ where: { publishedAt: null } })).toBe(0);
  });

  it('keeps events in the outbox while NATS is down, and publishes each once when it is back', async () => {
    await twin('acme:f-2');
    await acme.eventsPublished();
    await server.stop();
    const stored = await acme.request(INGEST, {
      r: [1, 2, 3].map((minute) => ({ twinId: 'acme:f-2', metric: 'temperature', at: `2026-01-01T00:0${minute}:00Z`, value: minute * 40 })),
    });
    expect(stored.data.acme.ingestTelemetry.accepted).toBe(3);
    const more = await acme.request(INGEST, { r: [{ twinId: 'acme:f-2', metric: 'temperature', at: '2026-01-01T00:05:00Z', value: 20 }] });
    expect(more.errors).toBeUndefined();
    expect(await acme.db.outboxEvent.count({ where: { publishedAt: null } })).toBeGreaterThan(0);

    await server.start();
    await eventually(async () => expect(await acme.db.outboxEvent.count({ where: { publishedAt: null } })).toBe(0), { timeout: 20_000, interval: 100 });
    // The organization may be back on NATS before this test's own connection is.
    await eventually(async () => expect(natsConnected(nats)).toBe(true), { timeout: 20_000, interval: 50 });
    const events = await eventsOf('f-2');
    const outbox = await acme.db.outboxEvent.findMany({ where: { subject: { startsWith: 'events.acme.f-2.' } }, orderBy: { id: 'asc' } });
    expect(events.map((e) => e.event.eventId)).toEqual(outbox.map((row) => row.eventId));
    expect(events.map((e) => e.event.type)).toEqual(['twin', 'state', 'alert', 'alarm', 'disruption', 'state', 'alarm', 'disruption']);
  });

  it('sends an event once even when it was published before a crash kept it from being marked', async () => {
    await twin('acme:f-3');
    await acme.eventsPublished();
    await acme.ingest([{ twinId: 'acme:f-3', metric: 'temperature', at: '2026-01-01T00:00:00Z', value: 5 }]);
    // As if a publisher had sent it and crashed before recording it: the row is still pending.
    const pending = await acme.db.outboxEvent.findFirstOrThrow({ where: { subject: 'events.acme.f-3.state' } });
    await jetstream(nats).publish(`${names.eventSubject('acme', 'f-3', 'state')}`, JSON.stringify(pending.payload), { msgID: pending.eventId });
    await acme.eventsPublished();
    const states = (await eventsOf('f-3')).filter((e) => e.event.type === 'state');
    expect(states.map((e) => e.event.eventId)).toEqual([pending.eventId]);
    const stream = await (await jetstreamManager(nats)).streams.info(names.eventsStream);
    expect(stream.config.duplicate_window).toBeGreaterThan(0);
  });

  /** An event added to `org`'s outbox as another process (the CLI, a replica) adds one: nobody here is told. */
  const addedElsewhere = async (localId: string, org: TestOrg = acme) => {
    const eventId = `elsewhere-${org.org}-${localId}`;
    await org.db.outboxEvent.create({
      data: { eventId, subject: `events.${org.org}.${localId}.twin`, payload: { eventId, type: 'twin', org: org.org, twinId: `${org.org}:${localId}` } },
    });
    return eventId;
  };
  const published = async (eventId: string, org: TestOrg = acme) => (await org.db.outboxEvent.findUniqueOrThrow({ where: { eventId } })).publishedAt !== null;

  it('publishes an event another process added as soon as the store announces it, without polling the outbox', async () => {
    await acme.eventsPublished();
    expect(acme.auth.listening).toBe(true);
    // With the channel up and nothing left behind, the publisher does not look at the table by
    // itself: only the announcement (a trigger on the outbox) brings this event out.
    const eventId = await addedElsewhere('e-1');
    await eventually(async () => expect(await published(eventId)).toBe(true), { timeout: 10_000, interval: 50 });
    expect((await eventsOf('e-1')).map((e) => e.msgId)).toEqual([eventId]);
  });

  it('publishes an event added while another replica held the publisher lock, once the lock is free', async () => {
    await acme.eventsPublished();
    const replica = new pg.Client({ connectionString: acme.databaseUrl });
    await replica.connect();
    try {
      await replica.query('SELECT pg_advisory_lock($1)', [PUBLISHER_LOCK]);
      const eventId = await addedElsewhere('e-2');
      // This process tried and found the lock taken: the event waits for its holder, or for the lock.
      await acme.eventsPublished();
      expect(await published(eventId)).toBe(false);
      await replica.query('SELECT pg_advisory_unlock($1)', [PUBLISHER_LOCK]);
      await eventually(async () => expect(await published(eventId)).toBe(true), { timeout: 10_000, interval: 50 });
      expect((await eventsOf('e-2')).map((e) => e.msgId)).toEqual([eventId]);
    } finally {
      await replica.end();
    }
  });

  it('publishes an event added while a replica frozen with the lock held it, once Postgres ends that replica’s session', async () => {
    await acme.eventsPublished();
    // A replica as Postgres sees one stopped just after it took the lock: its transaction open, silent.
    const frozen = new pg.Client({ connectionString: acme.databaseUrl });
    // Postgres's error, then the connection's end.
    const ended = new Promise<Error>((resolve) => frozen.on('error', resolve));
    await frozen.connect();
    try {
      await frozen.query('BEGIN');
      expect((await frozen.query(TAKE_PUBLISHER_LOCK)).rows[0].locked).toBe(true);
      const eventId = await addedElsewhere('e-4');
      await acme.eventsPublished();
      expect(await published(eventId)).toBe(false);
      await eventually(async () => expect(await published(eventId)).toBe(true), { timeout: LOCK_IDLE_MS + 10_000, interval: 100 });
      expect(await ended).toMatchObject({ code: '25P03' });
      expect((await eventsOf('e-4')).map((e) => e.msgId)).toEqual([eventId]);
    } finally {
      await frozen.end().catch(() => {});
    }
  });

  it('goes on publishing, each event once, after its own session was ended while it was frozen holding the lock', async () => {
    await acme.eventsPublished();
    const observer = new pg.Client({ connectionString: acme.databaseUrl });
    await observer.connect();
    try {
      // NATS frozen: the publisher takes the lock, sends the event and waits for JetStream's acknowledgement.
      server.pause();
      const eventId = await addedElsewhere('e-5');
      let holder: number | undefined;
      await eventually(
        async () => {
          const { rows } = await observer.query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", [PUBLISHER_LOCK]);
          holder = rows[0]?.pid;
          expect(holder).toBeDefined();
        },
        { timeout: 5000, interval: 10 },
      );
      // This whole process frozen, the organization with it, past the lock's idle bound.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, LOCK_IDLE_MS + 1000);
      expect((await observer.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [holder])).rowCount).toBe(0);
      server.resume();
      await eventually(async () => expect(await published(eventId)).toBe(true), { timeout: 20_000, interval: 100 });
      expect((await eventsOf('e-5')).map((e) => e.msgId)).toEqual([eventId]);
      // The organization took the end of its session in its stride: it still answers.
      expect((await acme.request('{ acme { twin(id: "acme:e-5") { id } } }')).errors).toBeUndefined();
    } finally {
      server.resume();
      await observer.end();
    }
  });

  it('publishes what the store did not announce at its next sweep (a store not migrated yet has no trigger)', async () => {
    const globex = await startOrg(disposers, 'globex', { network, outboxSweepSeconds: 1 });
    await globex.eventsPublished();
    await globex.db.$executeRaw`DROP TRIGGER "OutboxEvent_notify" ON "OutboxEvent"`;
    const eventId = await addedElsewhere('e-3', globex);
    await eventually(async () => expect(await published(eventId, globex)).toBe(true), { timeout: 10_000, interval: 50 });
  });
});
