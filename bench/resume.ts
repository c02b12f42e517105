// Subscribers resuming after a gateway restart, under a steady stream of events: how long until
// they have caught up, and what the gateway spends per event afterwards (JetStream consumers,
// CPU of this process per event, heap), with `twin { … }` resolved through the network graph.
//   npm run bench:resume [-- --subscribers 7 --missed 300 --seconds 10 --rate 20]
import { jetstreamManager } from '@nats-io/jetstream';
import { parseArgs } from 'node:util';
import { createGateway } from '../gateway/server.ts';
import { natsNames } from '../lib/nats.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { protocolSubscriber } from '../test/support/subscriptions.ts';
import { pressNetwork } from './support.ts';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '7' },
    missed: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
  },
});
const SUBSCRIBERS = Number(args.subscribers);
const MISSED = Number(args.missed);
const SECONDS = Number(args.seconds);
/** Events per second while the subscribers resume. */
const RATE = Number(args.rate);

const disposers = new Disposers();
try {
  const { net, acme, headers } = await pressNetwork(disposers);
  let value = 0;
  const ingest = () => {
    value += 1;
    return acme.ingest([{ twinId: 'acme:press-1', metric: 'force', at: new Date(Date.UTC(2026, 0, 1) + value * 1000).toISOString(), value }]);
  };
  const query = (after?: string) =>
    `subscription { twinEvents(filter: { types: [STATE] }${after ? `, after: ${JSON.stringify(after)}` : ''}) { cursor state { metrics { value } } twin { name kind } } }`;
  const received = Array.from({ length: SUBSCRIBERS }, () => ({ last: 0, cursor: '' }));
  const subscribeAll = (url: string) =>
    Promise.all(
      received.map((r) =>
        protocolSubscriber(url, headers, query(r.cursor || undefined), (payload) => {
          r.last = payload.data.twinEvents.state.metrics[0].value;
          r.cursor = payload.data.twinEvents.cursor;
        }),
      ),
    );

  /** Waits until every subscriber has received event `n`. */
  const reached = (n: number) =>
    eventually(
      async () => {
        if (received.some((r) => r.last < n)) throw new Error(`not every subscriber has received event ${n}`);
      },
      { timeout: 600_000 },
    );

  const options = { ...net.gatewayOptions, rateLimit: { perSecond: 1e9, burst: 1e9 } };
  const first = createGateway(options);
  await first.start();
  const port = Number(new URL(first.url).port);
  await subscribeAll(first.url);
  await ingest();
  await acme.eventsPublished();
  await reached(value);
  await first.stop();
  for (let i = 0; i < MISSED; i++) await ingest();
  await acme.eventsPublished();

  const consumers = async () => (await (await jetstreamManager(net.nats)).streams.info(natsNames(net.subjectPrefix).eventsStream)).state.consumer_count;
  const restarted = createGateway({ ...options, port });
  await restarted.start();
  disposers.add(() => restarted.stop());
  // The other services' consumers and the restarted gateway's live feed.
  const baseline = await consumers();
  const missedUpTo = value;
  // A steady stream: one reading every 1/RATE s (one at a time).
  let ingesting = Promise.resolve();
  const steady = setInterval(() => (ingesting = ingesting.then(ingest)), 1000 / RATE);
  const resumedAt = performance.now();
  disposers.add(async () => (await sockets).forEach((socket) => socket.close()));
  const sockets = subscribeAll(restarted.url);
  await reached(missedUpTo);
  const caughtUp = performance.now() - resumedAt;
  // Let the hand-over settle, then measure a steady window.
  await reached(missedUpTo + 20);
  const cpu = process.cpuUsage();
  const from = value;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const events = value - from;
  const used = process.cpuUsage(cpu);
  const heapAfter = process.memoryUsage().heapUsed;
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(steady);
  await ingesting;
  // While events flowed, the replay may have stayed a step behind the live feed.
  const replayConsumersWhileFlowing = (await consumers()) - baseline;
  await acme.eventsPublished();
  await reached(value);
  const settled = performance.now();
  // null: the replays' consumers were still there 10 s later.
  const handOverMs = await eventually(async () => {
    if ((await consumers()) > baseline) throw new Error('replays still running');
  }).then(
    () => Math.round(performance.now() - settled),
    () => null,
  );
  const metrics = await (await fetch(restarted.metricsUrl)).text();
  const executions = /^twinx_subscription_executions (\S+)$/m.exec(metrics)?.[1] ?? 'n/a';
  console.log(
    JSON.stringify(
      {
        subscribers: SUBSCRIBERS,
        missedEvents: MISSED,
        caughtUpMs: Math.round(caughtUp),
        eventsPerSecond: Math.round(events / elapsed),
        cpuMsPerEvent: Number(((used.user + used.system) / 1000 / events).toFixed(2)),
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        heapGrowthMiB: Number(((heapAfter - heapBefore) / 2 ** 20).toFixed(1)),
        replayConsumersWhileFlowing,
        handOverMsOnceQuiet: handOverMs,
        executions,
      },
      null,
      2,
    ),
  );
} finally {
  await disposers.dispose();
}
