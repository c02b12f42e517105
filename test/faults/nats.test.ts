import { jetstream } from '@nats-io/jetstream';
import type { Client } from 'graphql-ws';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodePositionCursor } from '../../lib/cursor.ts';
import { natsNames, type NatsConnection } from '../../lib/nats.ts';
import { startNatsServer, type OwnNatsServer } from '../support/nats-server.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, endOfStream, subscribe, subscriptionsServed, type Received } from '../support/subscriptions.ts';

/**
 * NATS going away under steady traffic (issue 11): readings from a device over JetStream and over
 * GraphQL, subscribers live and resuming. While NATS is down every service says so; once it is
 * back, subscriptions deliver again within 5 s, and in the end every subscriber has every event
 * once, in order.
 */

const disposers = new Disposers();
let server: OwnNatsServer;
let net: TestNetwork;
let viewer: Record<string, string>;
let device: NatsConnection;

/** How long after NATS's return subscriptions must deliver again, and services be ready (issue 11). */
const RECOVERY_MS = 5000;
/** How long after NATS's return the organization may take to publish what waited in its outbox. */
const PUBLISHED_MS = 2000;
/** Pace of each feed: steady traffic, not a load test. */
const PACE_MS = 25;
const EVENTS = `subscription($after: String, $twinIds: [ID!]) {
  twinEvents(filter: { types: [STATE], twinIds: $twinIds }, after: $after) { cursor twinId state { metrics { value } } }
}`;
/** Over JetStream from a device (nothing is accepted while NATS is down), and over GraphQL (events wait in the outbox). */
const FROM_DEVICE = 'acme:press-1';
const FROM_GRAPHQL = 'acme:press-2';

/** The last value fed into each twin: values go up by one, each reading a STATE event. */
const fed: Record<string, number> = { [FROM_DEVICE]: 0, [FROM_GRAPHQL]: 0 };
/** When each value was accepted (ms): by JetStream from the device, committed over GraphQL. */
const fedAt: Record<string, Map<number, number>> = { [FROM_DEVICE]: new Map(), [FROM_GRAPHQL]: new Map() };
function accepted(twinId: string, value: number): void {
  fed[twinId] = value;
  fedAt[twinId]!.set(value, Date.now());
}
const reading = (twinId: string, value: number) => ({ twinId, metric: 'force', at: new Date(Date.UTC(2026, 0, 1) + value * 1000).toISOString(), value });

/** Feeds both twins until the returned function is called, which resolves once both feeds stopped. */
function feed(): () => Promise<void> {
  let running = true;
  const js = jetstream(device);
  const subject = natsNames(net.subjectPrefix).ingestSubject('acme');
  const fromDevice = (async () => {
    while (running) {
      const next = reading(FROM_DEVICE, fed[FROM_DEVICE]! + 1);
      // A device keeps a reading NATS did not accept and sends it again.
      const published = await js.publish(subject, JSON.stringify({ readings: [next] }), { timeout: 1000 }).then(
        () => true,
        () => false,
      );
      if (published) accepted(FROM_DEVICE, next.value);
      await sleep(PACE_MS);
    }
  })();
  const fromGraphql = (async () => {
    while (running) {
      const next = reading(FROM_GRAPHQL, fed[FROM_GRAPHQL]! + 1);
      await net.orgs.acme!.ingest([next]);
      accepted(FROM_GRAPHQL, next.value);
      await sleep(PACE_MS);
    }
  })();
  return async () => {
    running = false;
    await Promise.all([fromDevice, fromGraphql]);
  };
}

interface Delivery {
  seq: number;
  twinId: string;
  value: number;
  /** When it was received (ms). */
  at: number;
}

/** A subscriber over graphql-ws recording what it receives. */
interface Subscriber {
  name: string;
  twinIds: string[];
  deliveries: Delivery[];
  errors: Received['errors'][];
  /** The first value of each twin it is owed. */
  from: Record<string, number>;
  client: Client;
}

function subscriber(name: string, twinIds: string[], after?: string): Subscriber {
  const client = connect(net.gateway.url, viewer);
  disposers.add(async () => client.dispose());
  const from = Object.fromEntries(twinIds.map((id) => [id, fed[id]! + 1]));
  const recorded: Subscriber = { name, twinIds, deliveries: [], errors: [], from, client };
  client.subscribe<any>(
    { query: EVENTS, variables: { after, twinIds } },
    {
      next: ({ data, errors }) => {
        if (errors) recorded.errors.push(errors as Received['errors']);
        else {
          const { cursor, twinId, state } = data.twinEvents;
          recorded.deliveries.push({ seq: decodePositionCursor('event', cursor), twinId, value: state.metrics[0].value, at: Date.now() });
        }
      },
      error: (error) => recorded.errors.push([{ message: String(error) }]),
      complete: () => recorded.errors.push([{ message: 'completed' }]),
    },
  );
  return recorded;
}

const services = () => ({ gateway: net.gateway, org: net.orgs.acme!, directory: net.directory });

async function readiness(): Promise<Record<string, { status: number; nats: unknown }>> {
  const entries = Object.entries(services()).map(async ([name, { url }]) => {
    const response = await fetch(url.replace('/graphql', '/readyz'));
    return [name, { status: response.status, nats: ((await response.json()) as { nats: unknown }).nats }] as const;
  });
  return Object.fromEntries(await Promise.all(entries));
}

/** `twinx_dependency_up{dependency="nats"}` of each service. */
async function natsUpMetrics(): Promise<Record<string, number>> {
  const entries = Object.entries(services()).map(async ([name, { metricsUrl }]) => {
    const text = await (await fetch(metricsUrl)).text();
    return [name, Number(/^twinx_dependency_up\{dependency="nats"\} (\d+)$/m.exec(text)?.[1])] as const;
  });
  return Object.fromEntries(await Promise.all(entries));
}

/** The first answer to a subscription resuming after `cursor`. */
async function resume(cursor: string): Promise<Received> {
  const client = connect(net.gateway.url, viewer);
  disposers.add(async () => client.dispose());
  return subscribe(client, EVENTS, { after: cursor }).next();
}

beforeAll(async () => {
  server = await startNatsServer();
  disposers.add(() => server.dispose());
  net = await startNetwork(disposers, ['acme'], { nats: server });
  for (const id of [FROM_DEVICE, FROM_GRAPHQL]) await net.orgs.acme!.createTwin({ id, name: id, kind: 'press', metrics: [{ name: 'force', unit: 'kN' }] });
  await net.orgs.acme!.eventsPublished();
  viewer = bearer(await net.orgs.acme!.memberToken('viewer'));
  device = await net.bus.connect({ kind: 'device', org: 'acme', device: 'press-line-1' });
  disposers.add(() => device.close());
}, 120_000);
afterAll(() => disposers.dispose());

/**
 * Takes NATS away (`takeAway`) and starts it again on the same port and store, under steady
 * traffic with four subscribers: two sharing the live feed, one with a filter of its own, one
 * resuming after a cursor (a consumer of its own).
 */
async function underTraffic(takeAway: () => Promise<void>): Promise<void> {
  const cursor = await endOfStream(net);
  const subscribers = [
    subscriber('live', [FROM_DEVICE, FROM_GRAPHQL]),
    subscriber('live, same query', [FROM_DEVICE, FROM_GRAPHQL]),
    subscriber('live, own filter', [FROM_DEVICE]),
    subscriber('resumed', [FROM_DEVICE, FROM_GRAPHQL], cursor),
  ];
  await eventually(async () => expect(await subscriptionsServed(net.gateway.url)).toBe(subscribers.length));
  const stopFeeding = feed();
  const receivedAll = (values: Record<string, number>, timeout: number) =>
    eventually(
      async () => {
        for (const { twinIds, deliveries } of subscribers)
          for (const id of twinIds) expect(deliveries.findLast((d) => d.twinId === id)?.value ?? 0).toBeGreaterThanOrEqual(values[id]!);
      },
      { timeout },
    );
  // Traffic flows everywhere before the fault.
  await receivedAll({ [FROM_DEVICE]: fed[FROM_DEVICE]! + 5, [FROM_GRAPHQL]: fed[FROM_GRAPHQL]! + 5 }, 30_000);

  await takeAway();
  // While NATS is down, every service says so, and a resume gets a code to act on.
  await eventually(async () => expect(Object.values(await readiness())).toEqual(Array(3).fill({ status: 503, nats: false })));
  expect(Object.values(await natsUpMetrics())).toEqual([0, 0, 0]);
  expect((await resume(cursor)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', dependency: 'nats' });
  // Readings keep coming over GraphQL while NATS is down; their events wait in the outbox.
  const before = fed[FROM_GRAPHQL]!;
  await eventually(async () => expect(fed[FROM_GRAPHQL]).toBeGreaterThan(before + 40));
  await server.start();
  const backAt = Date.now();

  /** Milliseconds from NATS's return until `check` holds. */
  const since = (check: () => Promise<void>) => eventually(check, { timeout: 30_000 }).then(() => Date.now() - backAt);
  const db = net.orgs.acme!.db;
  const [outboxMs, readyMs] = await Promise.all([
    // The organization publishes what it committed while NATS was down.
    since(async () => expect(await db.outboxEvent.count({ where: { publishedAt: null, createdAt: { lt: new Date(backAt) } } })).toBe(0)),
    since(async () => expect(Object.values(await readiness())).toEqual(Array(3).fill({ status: 200, nats: true }))),
  ]);
  expect(Object.values(await natsUpMetrics())).toEqual([1, 1, 1]);
  // The directory's catalog follows again: a twin created now is listed.
  const id = `acme:press-${backAt}`;
  await net.orgs.acme!.createTwin({ id, name: id, kind: 'press' });
  const catalogMs = await since(async () => expect(await net.directoryDb.catalogTwin.count({ where: { id } })).toBe(1));

  await stopFeeding();
  // Long enough to measure a stall, not only to see one.
  await receivedAll({ ...fed }, 120_000);
  // How late each event was once NATS was back: from when it was accepted, or from NATS's return
  // for one accepted before (waiting in the outbox); the worst of them, any subscriber.
  const recoveryMs = Math.max(
    ...subscribers.flatMap(({ deliveries }) => deliveries.filter((d) => d.at >= backAt).map((d) => d.at - Math.max(backAt, fedAt[d.twinId]!.get(d.value)!))),
  );
  // Every event once, in stream order, nothing missing.
  for (const { name, twinIds, deliveries, errors, from } of subscribers) {
    expect({ name, errors }).toEqual({ name, errors: [] });
    const seqs = deliveries.map((d) => d.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    for (const twinId of twinIds) {
      const values = deliveries.filter((d) => d.twinId === twinId).map((d) => d.value);
      expect({ name, twinId, values }).toEqual({ name, twinId, values: Array.from({ length: fed[twinId]! - from[twinId]! + 1 }, (_, i) => from[twinId]! + i) });
    }
  }
  for (const { client } of subscribers) await client.dispose();
  const measured = JSON.stringify({ outboxMs, readyMs, recoveryMs, catalogMs });
  // Within a poll of its return (500 ms), and the time to publish what waited.
  expect(outboxMs, measured).toBeLessThan(PUBLISHED_MS);
  expect(readyMs, measured).toBeLessThan(RECOVERY_MS);
  expect(recoveryMs, measured).toBeLessThan(RECOVERY_MS);
  expect(catalogMs, measured).toBeLessThan(RECOVERY_MS);
}

it.each([
  ['restarting (stopped, then started on the same port and store)', () => server.stop()],
  ['being killed (kill -9), then started again', () => server.kill()],
])('comes back within 5 s of NATS %s, losing and repeating nothing', async (_fault, takeAway) => underTraffic(takeAway), 300_000);
