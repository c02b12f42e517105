// Live events through the gateway, each measured next to a baseline in the same run:
//  1. latency from a device's reading to the subscriber, p50/p99, next to a raw NATS consumer
//     of the same events stream;
//  2. fan-out: events/s delivered to 1,000 subscribers, next to broadcasting the same number of
//     pre-serialized frames over plain WebSockets to as many sockets;
//  3. memory per idle subscription (heap, gateway and client sides together, after GC).
// Closing access (revocation, retirement, suspension) is measured by bench/closing.ts.
//   npm run bench:subscriptions [-- --subscribers 1000 --events 200 --readings 300]
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { signMessage } from '../lib/bus/signing.ts';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { natsNames } from '../lib/nats.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { protocolSubscriber } from '../test/support/subscriptions.ts';
import { Contender, percentile, pressNetwork, report } from './support.ts';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    events: { type: 'string', default: '200' },
    readings: { type: 'string', default: '300' },
  },
});
const SUBSCRIBERS = Number(args.subscribers);
const EVENTS = Number(args.events);
const READINGS = Number(args.readings);

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

const disposers = new Disposers();
try {
  const { net, acme, headers } = await pressNetwork(disposers);
  const names = natsNames(net.subjectPrefix);
  const js = jetstream(net.nats);
  const query = `subscription { twinEvents(filter: { twinIds: ["acme:press-1"], types: [STATE] }) { cursor type twinId at state { status metrics { metric value at } } } }`;

  // 1. Latency: readings published by a device at a steady 50/s; each reading's value is its id.
  const sentAt = new Map<number, number>();
  const gatewayLatency: number[] = [];
  const rawLatency: number[] = [];
  const dashboard = await protocolSubscriber(net.gateway.url, headers, query, (payload) => {
    const value = payload.data?.twinEvents?.state?.metrics?.[0]?.value;
    if (sentAt.has(value)) gatewayLatency.push(performance.now() - sentAt.get(value)!);
  });
  const raw = await (
    await js.consumers.get(names.eventsStream, { filter_subjects: names.eventSubject('acme', 'press-1', 'state'), deliver_policy: DeliverPolicy.New })
  ).consume();
  void (async () => {
    for await (const message of raw) {
      const value = message.json<{ state: { metrics: { value: number }[] } }>().state.metrics[0]?.value;
      if (value !== undefined && sentAt.has(value)) rawLatency.push(performance.now() - sentAt.get(value)!);
    }
  })();
  const start = Date.UTC(2026, 0, 1);
  for (let i = 1; i <= READINGS; i++) {
    sentAt.set(i, performance.now());
    await js.publish(
      names.ingestSubject('acme'),
      JSON.stringify({ readings: [{ twinId: 'acme:press-1', metric: 'force', at: new Date(start + i * 1000).toISOString(), value: i }] }),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await eventually(
    async () => {
      if (gatewayLatency.length < READINGS || rawLatency.length < READINGS) throw new Error(`${gatewayLatency.length}/${rawLatency.length} of ${READINGS}`);
    },
    { timeout: 30_000 },
  );
  await raw.close();
  dashboard.close();
  const show = (name: string, samples: number[]) => {
    const sorted = [...samples].sort((a, b) => a - b);
    console.log(`${name.padEnd(46)} p50 ${percentile(sorted, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(sorted, 99).toFixed(2).padStart(7)} ms`);
  };
  console.log(`\nlatency: ${READINGS} device readings at 50/s, device -> org ingest -> outbox -> JetStream -> consumer`);
  show('reading -> raw NATS consumer (baseline)', rawLatency);
  show('reading -> gateway subscriber', gatewayLatency);

  // 3 (first, on idle connections). Memory: the same sockets idle, then each with a subscription.
  const heapBefore = heap();
  let delivered = 0;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) sockets.push(await protocolSubscriber(net.gateway.url, headers, query, () => delivered++));
  const heapAfter = heap();
  console.log(
    `\nmemory: ${SUBSCRIBERS} idle subscriptions (gateway and client sides, one process) ${((heapAfter - heapBefore) / SUBSCRIBERS / 1024).toFixed(1)} KiB each`,
  );

  // 2. Fan-out: EVENTS state events to every subscriber, versus as many frames broadcast raw.
  const fanOut = new Contender(`gateway: events to ${SUBSCRIBERS} subscribers`, SUBSCRIBERS * EVENTS);
  // Events as acme's publisher sends them: signed by acme, its id as Nats-Msg-Id.
  const signer = { org: 'acme', key: await acme.issuer.keys.signingKey() };
  const publishEvent = async (i: number) => {
    const eventId = `bench-${Date.now()}-${i}`;
    const data = new TextEncoder().encode(payload(eventId, i));
    await js.publish(names.eventSubject('acme', 'press-1', 'state'), data, {
      msgID: eventId,
      headers: signMessage('events.acme.press-1.state', data, signer),
    });
  };
  const payload = (eventId: string, i: number) =>
    JSON.stringify({
      type: 'state',
      eventId,
      org: 'acme',
      twinId: 'acme:press-1',
      at: new Date().toISOString(),
      kind: 'press',
      tags: [],
      state: {
        status: 'OK',
        updatedAt: new Date().toISOString(),
        metrics: [{ metric: 'force', unit: 'kN', value: i, at: new Date().toISOString(), inRange: null }],
      },
    });
  delivered = 0;
  await fanOut.time(async () => {
    for (let i = 0; i < EVENTS; i++) await publishEvent(i);
    await eventually(
      async () => {
        if (delivered < SUBSCRIBERS * EVENTS) throw new Error(`${delivered} of ${SUBSCRIBERS * EVENTS}`);
      },
      { timeout: 120_000, interval: 5 },
    );
  });
  for (const socket of sockets) socket.close();

  const broadcast = new Contender('plain WebSocket broadcast (baseline)', SUBSCRIBERS * EVENTS);
  const plain = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => plain.once('listening', resolve));
  const { port } = plain.address() as { port: number };
  let received = 0;
  const clients: WebSocket[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`);
    socket.on('message', (raw) => {
      JSON.parse(raw.toString());
      received++;
    });
    await new Promise((resolve) => socket.once('open', resolve));
    clients.push(socket);
  }
  const frame = JSON.stringify({
    id: '1',
    type: 'next',
    payload: {
      data: {
        twinEvents: {
          cursor: 'ZXZlbnQ6MTIz',
          type: 'STATE',
          twinId: 'acme:press-1',
          at: new Date().toISOString(),
          state: { status: 'OK', metrics: [{ metric: 'force', value: 1, at: new Date().toISOString() }] },
        },
      },
    },
  });
  await broadcast.time(async () => {
    for (let i = 0; i < EVENTS; i++) {
      for (const socket of plain.clients) socket.send(frame);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(
      async () => {
        if (received < SUBSCRIBERS * EVENTS) throw new Error(`${received} of ${SUBSCRIBERS * EVENTS}`);
      },
      { timeout: 120_000, interval: 5 },
    );
  });
  for (const socket of clients) socket.close();
  plain.close();
  report(`fan-out: ${EVENTS} events x ${SUBSCRIBERS} subscribers`, [broadcast, fanOut], 'events/s');
} finally {
  await disposers.dispose();
}
