// Faults under load: a network started through the CLI (the directory, three organizations of ten
// twins each, two gateways, each a process of its own; a nats-server of its own; acme's store on a
// PostgreSQL cluster of the bench's own) with devices publishing readings over JetStream and
// subscribers (graphql-ws) resuming after their last cursor whenever they are cut off. In turn:
// kill -9 of an organization, kill -9 of a gateway, the directory killed, NATS stopped then
// started, NATS killed, acme's PostgreSQL stopped; each put back after a while.
// For each fault: recovery time (from the dependency being back to every subscriber it affects
// receiving fresh events again), event latency (device publish to subscriber) p50/p99 before and
// after, and what every service's /readyz said meanwhile. Over the run: readings and events lost
// or duplicated (per subscriber), RSS of every process. Exits 1 if anything was lost or duplicated.
//   npm run bench:faults [-- --steady 30 --nats-down 20 --postgres-down 60 --rate 1000 --only Postgres]
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { decodeCursor } from '../lib/cursor.ts';
import { natsNames, type NatsConnection } from '../lib/nats.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import { createOrgDb } from '../subgraphs/org/db.ts';
import { cliNetwork, rssMiB, type ServiceProcess } from '../test/support/cli-network.ts';
import { graphql } from '../test/support/graphql.ts';
import { startPostgresServer } from '../test/support/postgres-server.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { endOfStream } from '../test/support/subscriptions.ts';
import { percentile } from './support.ts';

const { values: args } = parseArgs({
  options: {
    /** Seconds of steady load before the first fault and after each recovery. */
    steady: { type: 'string', default: '30' },
    /** Seconds a killed process or stopped service stays away. */
    down: { type: 'string', default: '10' },
    'nats-down': { type: 'string', default: '20' },
    'postgres-down': { type: 'string', default: '60' },
    /** Readings per second from all devices together. */
    rate: { type: 'string', default: '1000' },
    /** Longest wait for subscribers to deliver again after a fault, in seconds. */
    'recovery-limit': { type: 'string', default: '180' },
    /** Only the faults whose name contains this text (e.g. `Postgres`). */
    only: { type: 'string', default: '' },
  },
});
const seconds = (name: keyof typeof args) => Number(args[name]) * 1000;
const STEADY_MS = seconds('steady');
const DOWN_MS = seconds('down');
const NATS_DOWN_MS = seconds('nats-down');
const PG_DOWN_MS = seconds('postgres-down');
const RECOVERY_LIMIT_MS = seconds('recovery-limit');
const RATE = Number(args.rate);
if (![STEADY_MS, DOWN_MS, NATS_DOWN_MS, PG_DOWN_MS, RECOVERY_LIMIT_MS, RATE].every((n) => n > 0)) throw new TypeError('every option must be a positive number');

const ORGS = ['acme', 'globex', 'initech'] as const;
const TWINS = 10;
/** Device batches per second per organization. */
const BATCHES = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const disposers = new Disposers();
const postgres = await startPostgresServer();
disposers.add(() => postgres.dispose());
const network = await cliNetwork({ orgs: ORGS, gateways: 2, orgDatabaseUrl: (org) => (org === 'acme' ? postgres.url : undefined) });
disposers.add(() => network.stop());
const { directory, orgs, gateways } = network;
const services: ServiceProcess[] = [directory, ...Object.values(orgs), ...gateways];

/** Every process's RSS, sampled every 5 s. */
const rss: Record<string, number[]> = {};
const sampleRss = () => {
  for (const [name, child] of Object.entries(network.processes()))
    if (child?.pid && child.exitCode === null && child.signalCode === null) (rss[name] ??= []).push(rssMiB(child.pid));
};

try {
  directory.start();
  await directory.ready();
  for (const service of [...Object.values(orgs), ...gateways]) service.start();
  for (const org of ORGS) await orgs[org]!.ready((body) => body.deviceIngest === true);
  for (const gateway of gateways) await gateway.ready((body) => (body.members as string[]).length === ORGS.length);
  for (const org of ORGS) {
    for (let i = 1; i <= TWINS; i++) {
      const created = await graphql(
        orgs[org]!.url,
        `mutation ($input: TwinInput!) { ${org} { createTwin(input: $input) { id } } }`,
        { input: { id: `${org}:m-${i}`, name: `machine ${i}`, kind: 'mill', metrics: [{ name: 'temp', unit: 'C' }] } },
        tokenHeaders([network.adminTokens[org]!]),
      );
      if (created.errors) throw new Error(JSON.stringify(created.errors));
    }
  }
  const operator = await network.connectAs({ kind: 'operator' }, 'bench-operator');
  const names = natsNames(network.subjectPrefix);
  const startCursor = await endOfStream({ nats: operator, subjectPrefix: network.subjectPrefix });
  const rssTimer = setInterval(sampleRss, 5000);
  sampleRss();

  // Devices: each batch a reading per twin (STATE events), values numbered across the network.
  let running = true;
  let next = 1;
  const sentAt = new Map<number, number>();
  const readings = { sent: 0, refused: 0 };
  const devices = ORGS.map(async (org) => {
    const js = jetstream(await network.connectAs({ kind: 'device', org, device: 'bench' }, `bench-device-${org}`));
    const perBatch = Math.max(1, Math.round(RATE / ORGS.length / BATCHES));
    const base = Date.now() - 86_400_000;
    const started = Date.now();
    for (let batch = 1; running; batch++) {
      const values = Array.from({ length: perBatch }, () => next++);
      const body = JSON.stringify({
        readings: values.map((value, i) => ({ twinId: `${org}:m-${(i % TWINS) + 1}`, metric: 'temp', at: new Date(base + value).toISOString(), value })),
      });
      const at = performance.now();
      try {
        await js.publish(names.ingestSubject(org), body, { timeout: 2000 });
        for (const value of values) sentAt.set(value, at);
        readings.sent += values.length;
      } catch {
        // Not accepted by JetStream: the device still has it (not sent, so not lost).
        readings.refused += values.length;
      }
      await sleep(Math.max(0, started + (batch * 1000) / BATCHES - Date.now()));
    }
  });

  // Subscribers: two per gateway and one more, each on one organization's twins with its administrator's token.
  let phase = 'steady';
  const latencies = new Map<string, number[]>();
  interface Subscriber {
    name: string;
    org: string;
    gateway: ServiceProcess;
    /** Stream sequence of each event received, with how many times. */
    received: Map<number, number>;
    cursor: string;
    sessions: number;
    errors: Set<string>;
    /** Set once every event it is owed has arrived: it stops resuming. */
    caughtUp?: boolean;
    /** When it last received an event sent by a device after `since` (performance.now()). */
    freshAfter: (since: number) => number | undefined;
  }
  const subscribers: Subscriber[] = [];
  const query = `subscription($after: String) { twinEvents(filter: { types: [STATE] }, after: $after) { cursor state { metrics { value } } } }`;
  const subscriberLoops = ['acme', 'acme', 'globex', 'initech', 'acme'].map(async (org, index) => {
    const gateway = gateways[index % gateways.length]!;
    const fresh: { sent: number; received: number }[] = [];
    const subscriber: Subscriber = {
      name: `${index + 1} ${org}@${gateway.name}`,
      org,
      gateway,
      received: new Map(),
      cursor: startCursor,
      sessions: 0,
      errors: new Set(),
      freshAfter: (since) => fresh.find((f) => f.sent > since)?.received,
    };
    subscribers.push(subscriber);
    while (running || subscriber.sessions === 0 || !subscriber.caughtUp) {
      subscriber.sessions++;
      const client = createClient({
        url: gateway.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: tokenHeaders([network.adminTokens[org]!]),
        retryAttempts: 0,
        lazy: true,
      });
      await new Promise<void>((resolve) => {
        client.subscribe<{ twinEvents: { cursor: string; state: { metrics: { value: number }[] } } }>(
          { query, variables: { after: subscriber.cursor } },
          {
            next: ({ data, errors }) => {
              if (errors) subscriber.errors.add(JSON.stringify(errors.map((e) => e.extensions?.code ?? e.message)));
              if (!data) return;
              const seq = Number(decodeCursor('event', data.twinEvents.cursor));
              subscriber.received.set(seq, (subscriber.received.get(seq) ?? 0) + 1);
              subscriber.cursor = data.twinEvents.cursor;
              const now = performance.now();
              const sent = sentAt.get(data.twinEvents.state.metrics[0]!.value);
              if (sent === undefined) return;
              if (fresh.length === 0 || fresh.at(-1)!.sent < sent) fresh.push({ sent, received: now });
              if (fresh.length > 1000) fresh.splice(0, 500);
              let list = latencies.get(phase);
              if (!list) latencies.set(phase, (list = []));
              list.push(now - sent);
            },
            error: (error) => {
              // A close event (its code), an error event (no connection), or an Error.
              const { code, message } = error as { code?: number; message?: string };
              subscriber.errors.add(code !== undefined ? `close ${code}` : (message ?? 'no connection'));
              resolve();
            },
            complete: resolve,
          },
        );
      });
      await client.dispose();
      // A client's back-off before it resumes after its last cursor.
      await sleep(250);
    }
  });
  /** What each service's /readyz answered while `until` runs: distinct answers, with the checks that failed. */
  const watchReadiness = (until: Promise<unknown>) => {
    const seen: Record<string, Set<string>> = {};
    const watching = (async () => {
      let done = false;
      void until.finally(() => (done = true));
      while (!done) {
        await Promise.all(
          services.map(async (service) => {
            const { status, body } = await service.readiness();
            const failing =
              typeof body === 'object' && body !== null
                ? Object.entries(body)
                    .filter(([, value]) => value === false)
                    .map(([key]) => `${key}=false`)
                : [String(body).slice(0, 40)];
            (seen[service.name] ??= new Set()).add(`${status || 'down'}${failing.length ? ` (${failing.join(', ')})` : ''}`);
          }),
        );
        await sleep(500);
      }
    })();
    return watching.then(() => seen);
  };

  interface Fault {
    name: string;
    /** Breaks the dependency and puts it back; resolves once it is back. */
    inject: () => Promise<void>;
    affects: (subscriber: Subscriber) => boolean;
  }
  const restart = async (service: ServiceProcess, signal: NodeJS.Signals, downMs: number) => {
    await service.kill(signal);
    await sleep(downMs);
    service.start();
    await service.ready(undefined, RECOVERY_LIMIT_MS);
  };
  const faults: Fault[] = [
    { name: 'kill -9 org acme', inject: () => restart(orgs.acme!, 'SIGKILL', DOWN_MS), affects: (s) => s.org === 'acme' },
    { name: 'kill -9 gateway-1', inject: () => restart(gateways[0]!, 'SIGKILL', DOWN_MS), affects: (s) => s.gateway === gateways[0] },
    { name: 'directory killed', inject: () => restart(directory, 'SIGKILL', DOWN_MS), affects: () => true },
    {
      name: `NATS stopped ${NATS_DOWN_MS / 1000} s`,
      inject: async () => {
        network.nats.child.kill('SIGTERM');
        await sleep(NATS_DOWN_MS);
        await network.nats.restart();
      },
      affects: () => true,
    },
    {
      name: 'NATS killed (-9)',
      inject: async () => {
        network.nats.child.kill('SIGKILL');
        await sleep(DOWN_MS);
        await network.nats.restart();
      },
      affects: () => true,
    },
    {
      name: `acme Postgres down ${PG_DOWN_MS / 1000} s`,
      inject: async () => {
        await postgres.stop('fast');
        await sleep(PG_DOWN_MS);
        await postgres.start();
      },
      affects: (s) => s.org === 'acme',
    },
  ];

  console.log(`network up (3 organizations × ${TWINS} twins, 2 gateways, through the CLI); ${RATE} readings/s; ${STEADY_MS / 1000} s steady between faults`);
  await sleep(STEADY_MS);
  const results: { name: string; recovery: string; before: string; after: string; readiness: Record<string, Set<string>> }[] = [];
  const summary = (list: number[] | undefined) => {
    if (!list?.length) return '-';
    const sorted = [...list].sort((a, b) => a - b);
    return `${percentile(sorted, 50).toFixed(0)}/${percentile(sorted, 99).toFixed(0)}`;
  };
  let before = 'steady';
  for (const fault of faults.filter((f) => f.name.includes(args.only))) {
    console.log(`fault: ${fault.name}`);
    phase = `during ${fault.name}`;
    let recovered!: () => void;
    const recovery = new Promise<void>((resolve) => (recovered = resolve));
    const readiness = watchReadiness(recovery);
    const injected = performance.now();
    await fault.inject();
    const back = performance.now();
    const affected = subscribers.filter(fault.affects);
    let recoveryMs: number | undefined;
    try {
      await eventually(
        async () => {
          const times = affected.map((s) => s.freshAfter(back));
          if (times.some((t) => t === undefined)) throw new Error('not delivering yet');
          recoveryMs = Math.max(...(times as number[])) - back;
        },
        { timeout: RECOVERY_LIMIT_MS, interval: 50 },
      );
    } catch {
      recoveryMs = undefined;
    }
    recovered();
    phase = `after ${fault.name}`;
    await sleep(STEADY_MS);
    results.push({
      name: `${fault.name} (${((back - injected) / 1000).toFixed(1)} s away)`,
      recovery: recoveryMs === undefined ? `NOT within ${RECOVERY_LIMIT_MS / 1000} s` : `${(recoveryMs / 1000).toFixed(1)} s`,
      before: summary(latencies.get(before)),
      after: summary(latencies.get(phase)),
      readiness: await readiness,
    });
    before = phase;
  }

  running = false;
  await Promise.all(devices);
  clearInterval(rssTimer);
  sampleRss();

  // Every reading JetStream took is stored (or dead-lettered), and nothing waits.
  const jsm = await jetstreamManager(operator);
  await eventually(
    async () => {
      for (const org of ORGS) {
        const info = await jsm.consumers.info(names.ingestStream(org), 'org-ingest');
        if (info.num_pending + info.num_ack_pending > 0) throw new Error(`${org} ingest: ${info.num_pending} waiting`);
      }
    },
    { timeout: 120_000, interval: 250 },
  ).catch((error: unknown) => console.log(`ingest not drained: ${String(error)}`));
  let stored = 0;
  let deadLetters = 0;
  for (const org of ORGS) {
    const db = createOrgDb({ databaseUrl: network.orgDatabaseUrls[org]!, poolSize: 1 });
    stored += await db.reading.count();
    await db.$disconnect();
    deadLetters += (await jsm.streams.info(names.deadLetterStream(org))).state.messages;
  }

  // Every STATE event in the stream since the start, by organization: what each subscriber is owed.
  const owed = await stateEvents(operator, names, startCursor);
  await eventually(
    async () => {
      for (const s of subscribers) if ((owed.get(s.org) ?? []).some((seq) => !s.received.has(seq))) throw new Error(`${s.name} misses events`);
    },
    { timeout: 120_000, interval: 250 },
  ).catch(() => undefined);
  for (const s of subscribers) s.caughtUp = true;

  let failed = readings.sent !== stored || deadLetters > 0;
  console.log(
    `\nreadings: ${readings.sent} taken by JetStream, ${readings.refused} refused (device keeps them); stored ${stored}, lost ${readings.sent - stored}; dead letters ${deadLetters}`,
  );
  console.log(`\n${'fault'.padEnd(36)} ${'recovery'.padStart(12)} ${'p50/p99 ms before'.padStart(19)} ${'after'.padStart(10)}`);
  for (const r of results) console.log(`${r.name.padEnd(36)} ${r.recovery.padStart(12)} ${r.before.padStart(19)} ${r.after.padStart(10)}`);
  console.log('\n/readyz during each fault (until subscribers delivered again):');
  for (const r of results) {
    console.log(`  ${r.name}`);
    for (const [service, answers] of Object.entries(r.readiness)) console.log(`    ${service.padEnd(12)} ${[...answers].join(' | ')}`);
  }
  console.log(
    `\n${'subscriber'.padEnd(20)} ${'sessions'.padStart(9)} ${'owed'.padStart(8)} ${'received'.padStart(9)} ${'lost'.padStart(6)} ${'duplicated'.padStart(11)}  errors`,
  );
  for (const s of subscribers) {
    const mine = owed.get(s.org) ?? [];
    const lost = mine.filter((seq) => !s.received.has(seq)).length;
    const duplicated = [...s.received.values()].reduce((sum, times) => sum + times - 1, 0);
    failed ||= lost > 0 || duplicated > 0;
    console.log(
      `${s.name.padEnd(20)} ${String(s.sessions).padStart(9)} ${String(mine.length).padStart(8)} ${String(s.received.size).padStart(9)} ${String(lost).padStart(6)} ${String(duplicated).padStart(11)}  ${[...s.errors].slice(0, 4).join('; ') || '-'}`,
    );
  }
  console.log(`\n${'RSS (MiB)'.padEnd(14)} ${'start'.padStart(7)} ${'max'.padStart(7)} ${'end'.padStart(7)}`);
  for (const [name, samples] of Object.entries(rss))
    console.log(
      `${name.padEnd(14)} ${samples[0]!.toFixed(0).padStart(7)} ${Math.max(...samples)
        .toFixed(0)
        .padStart(7)} ${samples.at(-1)!.toFixed(0).padStart(7)}`,
    );
  console.log(failed ? '\nFAILED: readings or events lost or duplicated' : '\nnothing lost, nothing duplicated');
  process.exitCode = failed ? 1 : 0;
  await Promise.all(subscriberLoops);
} catch (error) {
  for (const service of services) console.error(`--- ${service.name} (last lines of its log)\n${service.log()}`);
  throw error;
} finally {
  await disposers.dispose();
}

/** The stream sequences of the STATE events after `cursor`, by organization. */
async function stateEvents(nats: NatsConnection, names: ReturnType<typeof natsNames>, cursor: string): Promise<Map<string, number[]>> {
  const consumer = await jetstream(nats).consumers.get(names.eventsStream, {
    filter_subjects: `${network.subjectPrefix}.events.*.*.state`,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Number(decodeCursor('event', cursor)) + 1,
  });
  const byOrg = new Map<string, number[]>();
  let pending = (await consumer.info()).num_pending;
  while (pending > 0) {
    const batch = await consumer.fetch({ max_messages: 1000, expires: 5000 });
    let got = 0;
    for await (const message of batch) {
      const org = message.subject.split('.').at(-3)!;
      let list = byOrg.get(org);
      if (!list) byOrg.set(org, (list = []));
      list.push(message.seq);
      got++;
      pending = message.info.pending;
    }
    if (got === 0) break;
  }
  return byOrg;
}
