import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGateway } from '../../gateway/server.ts';
import { natsNames } from '../../lib/nats.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { protocolSubscriber, type Received } from '../support/subscriptions.ts';

const disposers = new Disposers();
let net: TestNetwork;
let viewer: Record<string, string>;

const SUBSCRIBERS = 5;
/** The same subscription for every subscriber, from the live feed or after a cursor. */
const events = (after?: string) =>
  `subscription { twinEvents(filter: { types: [STATE] }${after ? `, after: ${JSON.stringify(after)}` : ''}) { cursor state { metrics { value } } } }`;
let value = 0;

async function ingest() {
  value += 1;
  await net.orgs.acme!.ingest([{ twinId: 'acme:press-1', metric: 'force', at: new Date(Date.UTC(2026, 0, 1) + value * 1000).toISOString(), value }]);
}

/** A subscriber on its own connection, recording the values and cursors it receives. */
async function subscriber(gatewayUrl: string, received: { values: number[]; cursors: string[] }, after?: string) {
  const socket = await protocolSubscriber(gatewayUrl, viewer, events(after), (payload: Received) => {
    received.values.push(payload.data.twinEvents.state.metrics[0].value);
    received.cursors.push(payload.data.twinEvents.cursor);
  });
  disposers.add(async () => socket.close());
  return socket;
}

/** Consumers on the event stream, all services' (durable ones included). */
async function consumers(): Promise<number> {
  const jsm = await jetstreamManager(net.nats);
  return (await jsm.streams.info(natsNames(net.subjectPrefix).eventsStream)).state.consumer_count;
}

async function executions(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return Number(/^twinx_subscription_executions (\S+)$/m.exec(text)![1]);
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme']);
  await net.orgs.acme!.createTwin({ id: 'acme:press-1', name: 'Press', kind: 'press', metrics: [{ name: 'force', unit: 'kN' }] });
  await net.orgs.acme!.eventsPublished();
  viewer = bearer(await net.orgs.acme!.memberToken('viewer'));
});
afterAll(() => disposers.dispose());

it('resumed subscriptions join one shared consumer and execution once caught up, each event once in order across the hand-over', async () => {
  const first = createGateway(net.gatewayOptions);
  await first.start();
  const port = Number(new URL(first.url).port);
  const received = Array.from({ length: SUBSCRIBERS }, () => ({ values: [] as number[], cursors: [] as string[] }));
  const sockets = await Promise.all(received.map((r) => subscriber(first.url, r)));
  const closed = sockets.map((socket) => new Promise<number>((resolve) => socket.once('close', resolve)));
  await eventually(async () => expect(await executions(first.metricsUrl)).toBe(1));
  for (let i = 0; i < 3; i++) await ingest();
  await net.orgs.acme!.eventsPublished();
  await eventually(async () => expect(received.map((r) => r.values.length)).toEqual(received.map(() => 3)));

  // The gateway restarts; events go on meanwhile, enough for a replay of some length.
  await first.stop();
  expect(await Promise.all(closed)).toEqual(received.map(() => 1001));
  for (let i = 0; i < 200; i++) await ingest();
  await net.orgs.acme!.eventsPublished();
  const restarted = await net.startGateway({ port });
  const baseline = await consumers();

  // Every subscriber resumes while events keep coming, some from the same cursor, others not:
  // as if the last events had not reached them.
  for (const [i, r] of received.entries()) {
    r.values.splice(1 + (i % 3));
    r.cursors.splice(1 + (i % 3));
    await subscriber(restarted.url, r, r.cursors.at(-1));
  }
  let flowing = true;
  const ingesting = (async () => {
    while (flowing) await ingest();
  })();
  await eventually(
    async () => {
      expect(await executions(restarted.metricsUrl)).toBe(1);
      expect(await consumers()).toBe(baseline);
      expect(Math.min(...received.map((r) => r.values.length))).toBeGreaterThan(201);
    },
    { timeout: 60_000, interval: 50 },
  );
  // Still flowing after the hand-over.
  const handedOver = value;
  await eventually(async () => expect(value).toBeGreaterThan(handedOver + 5), { timeout: 30_000 });
  flowing = false;
  await ingesting;
  await net.orgs.acme!.eventsPublished();

  const all = Array.from({ length: value }, (_, i) => i + 1);
  await eventually(async () => expect(received.map((r) => r.values.length)).toEqual(received.map(() => value)), { timeout: 30_000 });
  for (const r of received) expect(r.values).toEqual(all);
  expect(await executions(restarted.metricsUrl)).toBe(1);
}, 180_000);
