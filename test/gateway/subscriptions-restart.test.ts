import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGateway } from '../../gateway/server.ts';
import { startNatsServer, type OwnNatsServer } from '../support/nats-server.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, endOfStream, subscribe, type TestSubscription } from '../support/subscriptions.ts';

const disposers = new Disposers();
let server: OwnNatsServer;
let net: TestNetwork;
let viewer: Record<string, string>;

const EVENTS = `subscription($after: String) { twinEvents(filter: { types: [STATE] }, after: $after) { cursor state { metrics { value } } } }`;

async function ingest(value: number) {
  const at = new Date(Date.UTC(2026, 0, 1, 0, value)).toISOString();
  await net.orgs.acme!.ingest([{ twinId: 'acme:press-1', metric: 'force', at, value }]);
}

function subscription(gatewayUrl: string, after: string): TestSubscription {
  const client = connect(gatewayUrl, viewer);
  disposers.add(async () => client.dispose());
  return subscribe(client, EVENTS, { after });
}

async function valueOf(sub: TestSubscription): Promise<number> {
  return (await sub.next()).data.twinEvents.state.metrics[0].value;
}

/** Subscribes from the end of the stream and receives one reading's event. */
async function firstEvent(gatewayUrl: string, value: number): Promise<{ subscription: TestSubscription; cursor: string }> {
  const sub = subscription(gatewayUrl, await endOfStream(net));
  await ingest(value);
  await net.orgs.acme!.eventsPublished();
  const event = await sub.next();
  expect(event.data.twinEvents.state.metrics[0].value).toBe(value);
  return { subscription: sub, cursor: event.data.twinEvents.cursor };
}

beforeAll(async () => {
  server = await startNatsServer();
  disposers.add(() => server.dispose());
  net = await startNetwork(disposers, ['acme'], { nats: server });
  await net.orgs.acme!.createTwin({ id: 'acme:press-1', name: 'Press', kind: 'press', metrics: [{ name: 'force', unit: 'kN' }] });
  await net.orgs.acme!.eventsPublished();
  viewer = bearer(await net.orgs.acme!.memberToken('viewer'));
});
afterAll(() => disposers.dispose());

it('resumes exactly after a cursor across a NATS restart, with what happened while NATS was down', async () => {
  const { subscription: before, cursor } = await firstEvent(net.gateway.url, 1);
  await before.close();

  await server.stop();
  await ingest(2); // committed; its event waits in the outbox
  await server.start();
  await eventually(async () => expect(await net.orgs.acme!.db.outboxEvent.count({ where: { publishedAt: null } })).toBe(0), { timeout: 20_000, interval: 100 });
  await ingest(3);
  await net.orgs.acme!.eventsPublished();

  const resumed = subscription(net.gateway.url, cursor);
  expect([await valueOf(resumed), await valueOf(resumed)]).toEqual([2, 3]);
  await resumed.close();
});

it('resumes exactly after a cursor across a gateway restart, with what happened while it was down', async () => {
  const first = createGateway(net.gatewayOptions);
  await first.start();
  const port = Number(new URL(first.url).port);
  const { subscription: live, cursor } = await firstEvent(first.url, 10);

  await first.stop();
  expect(await live.failed).toMatchObject({ code: 1001 });
  await ingest(11);
  await ingest(12);
  await net.orgs.acme!.eventsPublished();
  const restarted = await net.startGateway({ port });

  const resumed = subscription(restarted.url, cursor);
  expect([await valueOf(resumed), await valueOf(resumed)]).toEqual([11, 12]);
  await ingest(13);
  await net.orgs.acme!.eventsPublished();
  expect(await valueOf(resumed)).toBe(13);
  await resumed.close();
});
