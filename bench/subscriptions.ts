// Live events through the gateway, each measured next to a baseline in the same run:
//  1. latency from a device's reading to the subscriber, p50/p99, next to a raw NATS consumer
//     of the same events stream;
//  2. fan-out: events/s delivered to 1,000 subscribers, next to broadcasting the same number of
//     pre-serialized frames over plain WebSockets to as many sockets; the subscribers of both in a
//     process of their own, parsing each frame and reading its value;
//  3. memory per idle subscription (heap, gateway and client sides together, after GC).
// Closing access (revocation, retirement, suspension) is measured by bench/closing.ts.
//   npm run bench:subscriptions [-- --subscribers 1000 --events 200 --readings 300]
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { signMessage } from '../lib/bus/signing.ts';
import { parseArgs } from 'node:util';
import { type WebSocket, WebSocketServer } from 'ws';
import { natsNames } from '../lib/nats.ts';
import type { SubscribersSpec } from './subscribers.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { protocolSubscriber, subscriptionsServed } from '../test/support/subscriptions.ts';
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
const RUN_TS = new URL('../bin/run-ts.mjs', import.meta.url).pathname;
const SUBSCRIBERS_SCRIPT = new URL('./subscribers.ts', import.meta.url).pathname;

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

  // 3. Memory: the sockets idle, then each with a subscription, in this process.
  const heapBefore = heap();
  const sockets: WebSocket[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) sockets.push(await protocolSubscriber(net.gateway.url, headers, query, () => undefined));
  const heapAfter = heap();
  console.log(
    `\nmemory: ${SUBSCRIBERS} idle subscriptions (gateway and client sides, one process) ${((heapAfter - heapBefore) / SUBSCRIBERS / 1024).toFixed(1)} KiB each`,
  );
  for (const socket of sockets) socket.close();
  /** Resolves once the gateway serves that many subscriptions (none left from before, every new one started). */
  const servedNow = (count: number) =>
    eventually(
      async () => {
        const served = await subscriptionsServed(net.gateway.url);
        if (served !== count) throw new Error(`the gateway serves ${served} subscriptions, not ${count}`);
      },
      { timeout: 60_000 },
    );
  await servedNow(0);

  // 2. Fan-out: EVENTS state events to every subscriber, versus as many frames broadcast raw. The
  // subscribers of both run in a process of their own and do the same with each frame.
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
  const gatewayClients = await subscribers({ url: net.gateway.url, sockets: SUBSCRIBERS, expected: SUBSCRIBERS * EVENTS, subscription: { headers, query } });
  await servedNow(SUBSCRIBERS);
  await fanOut.time(async () => {
    for (let i = 0; i < EVENTS; i++) await publishEvent(i);
    await gatewayClients.done;
  });
  await gatewayClients.stop();

  const broadcast = new Contender('plain WebSocket broadcast (baseline)', SUBSCRIBERS * EVENTS);
  const plain = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => plain.once('listening', resolve));
  const { port } = plain.address() as { port: number };
  const plainClients = await subscribers({ url: `ws://127.0.0.1:${port}`, sockets: SUBSCRIBERS, expected: SUBSCRIBERS * EVENTS });
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
    await plainClients.done;
  });
  await plainClients.stop();
  plain.close();
  report(`fan-out: ${EVENTS} events x ${SUBSCRIBERS} subscribers (subscribers in a process of their own)`, [broadcast, fanOut], 'events/s');
} finally {
  await disposers.dispose();
}

/** Subscribers in a process of their own (bench/subscribers.ts), once every socket is open; `done` once they received all they expect. */
async function subscribers(spec: SubscribersSpec): Promise<{ done: Promise<unknown>; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [RUN_TS, SUBSCRIBERS_SCRIPT, JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const message = (key: 'ready' | 'done') =>
    new Promise((resolve, reject) => {
      child.on('message', (m: Record<string, unknown>) => m[key] && resolve(m));
      child.once('exit', (code) => reject(new Error(`the subscribers' process exited (${code}) before it was ${key}`)));
    });
  const done = message('done');
  done.catch(() => undefined);
  await message('ready');
  return {
    done,
    stop: async () => {
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    },
  };
}
