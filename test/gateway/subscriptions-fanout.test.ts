import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { SLOW_CONSUMER } from '../../gateway/subscriptions/fanout.ts';
import { decodeCursor } from '../../lib/cursor.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, protocolSubscriber, subscribe, subscriptionsServed, type Received } from '../support/subscriptions.ts';

const disposers = new Disposers();
let net: TestNetwork;
let gateway: Gateway;
let viewer: Record<string, string>;

const TWINS = Array.from({ length: 10 }, (_, i) => `acme:line-${i}`);
const METRICS = Array.from({ length: 100 }, (_, i) => `m${i}`);
/** About 10 KiB a frame: every metric of the twin's state. */
const LIVE = `subscription { twinEvents(filter: { orgs: ["acme"], types: [STATE] }) { cursor twinId state { status metrics { metric unit value at inRange } } } }`;
let batch = 0;

/** One reading of every metric of every twin: one STATE event per twin. */
async function ingestAll() {
  batch += 1;
  const at = new Date(Date.UTC(2026, 0, 1) + batch * 1000).toISOString();
  const readings = TWINS.flatMap((twinId) => METRICS.map((metric) => ({ twinId, metric, at, value: batch })));
  await net.orgs.acme!.ingest(readings);
}

/** Two subscribers of the same events on their own connections (one of them to be slowed down), with the cursors they receive. */
async function twoSubscribers(gatewayUrl: string, query: string) {
  const fast: string[] = [];
  const slow: string[] = [];
  const cursorOf = (payload: Received) => payload.data.twinEvents.cursor as string;
  const fastSocket = await protocolSubscriber(gatewayUrl, viewer, query, (payload) => fast.push(cursorOf(payload)));
  disposers.add(async () => fastSocket.close());
  const slowSocket = await protocolSubscriber(gatewayUrl, viewer, query, (payload) => slow.push(cursorOf(payload)));
  const slowClosed = new Promise<number>((resolve) => slowSocket.once('close', resolve));
  await eventually(async () => expect(await subscriptionsServed(gatewayUrl)).toBe(2));
  return { fast, slow, slowSocket, slowClosed };
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme']);
  for (const id of TWINS) {
    await net.orgs.acme!.createTwin({ id, name: id, kind: 'line', metrics: METRICS.map((name) => ({ name, unit: 'bar', min: 0, max: 1000 })) });
  }
  await net.orgs.acme!.eventsPublished();
  // A small allowance, so that the test need not fill the kernel's socket buffers many times over.
  gateway = await net.startGateway({ maxBufferedBytes: 64 * 1024 });
  viewer = bearer(await net.orgs.acme!.memberToken('viewer', 'dashboard'));
});
afterAll(() => disposers.dispose());

describe('many subscribers of the same events', () => {
  it('cuts off a subscriber that stops reading, without holding back the one beside it, and loses nothing for it', async () => {
    const { fast, slow, slowSocket, slowClosed } = await twoSubscribers(gateway.url, LIVE);

    // The slow dashboard stops reading; events keep coming until the gateway gives up on it.
    slowSocket.pause();
    while ((await subscriptionsServed(gateway.url)) === 2) {
      expect(batch, 'the slow subscriber was never cut off').toBeLessThan(300);
      await ingestAll();
      await net.orgs.acme!.eventsPublished();
    }
    await ingestAll();
    await net.orgs.acme!.eventsPublished();
    const total = batch * TWINS.length;
    // The other subscriber of the same events got every one of them, in stream order.
    await eventually(async () => expect(fast).toHaveLength(total), { timeout: 30_000 });
    const positions = fast.map((cursor) => Number(decodeCursor('event', cursor)));
    expect(positions.every((position, i) => i === 0 || position > positions[i - 1]!)).toBe(true);

    // Reading again, the slow one gets what was already on its way, then the close.
    slowSocket.resume();
    expect(await slowClosed).toBe(SLOW_CONSUMER);
    expect(slow.length).toBeGreaterThan(0);
    expect(slow.length).toBeLessThan(total);
    expect(slow).toEqual(fast.slice(0, slow.length));

    // It resumes after its last cursor and gets exactly the rest.
    const client = connect(gateway.url, viewer);
    disposers.add(async () => client.dispose());
    const resumed = subscribe(client, `subscription($after: String) { twinEvents(filter: { orgs: ["acme"], types: [STATE] }, after: $after) { cursor } }`, {
      after: slow.at(-1),
    });
    const rest: string[] = [];
    while (rest.length < total - slow.length) rest.push((await resumed.next()).data.twinEvents.cursor);
    expect([...slow, ...rest]).toEqual(fast);
    await resumed.close();
  });

  it('tells a subscriber that stops reading it was too slow (4408) before keep-alive would end it, and the one beside it keeps receiving', async () => {
    // Pinged every second: the slow subscriber cannot answer, its small events never fill the gateway's buffer allowance.
    const pinging = await net.startGateway({ keepAliveMs: 1000 });
    const SMALL = `subscription { twinEvents(filter: { orgs: ["acme"], types: [STATE] }) { cursor } }`;
    const { fast, slow, slowSocket, slowClosed } = await twoSubscribers(pinging.url, SMALL);
    const deliveries = async () => Number(/^twinx_subscription_deliveries_total (\S+)$/m.exec(await (await fetch(pinging.metricsUrl)).text())![1]);

    // The slow one stops reading; events go on, each sent to both, until the gateway stops sending to it.
    slowSocket.pause();
    const started = Date.now();
    for (;;) {
      expect(Date.now() - started, 'the slow subscriber was never cut off').toBeLessThan(60_000);
      const before = await deliveries();
      const expected = fast.length + TWINS.length;
      await ingestAll();
      await net.orgs.acme!.eventsPublished();
      await eventually(async () => expect(fast).toHaveLength(expected));
      if ((await deliveries()) - before === TWINS.length) break;
    }
    // The other one goes on receiving.
    const total = fast.length + TWINS.length;
    await ingestAll();
    await net.orgs.acme!.eventsPublished();
    await eventually(async () => expect(fast).toHaveLength(total));

    // Reading again, the slow one gets what was on its way, then why it was closed.
    slowSocket.resume();
    expect(await slowClosed).toBe(SLOW_CONSUMER);
    expect(slow.length).toBeLessThan(fast.length);
    expect(slow).toEqual(fast.slice(0, slow.length));
  });
});
