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
import { parseArgs } from 'node:util';
import { cliNetwork, rssMiB, type ServiceProcess } from '../test/support/cli-network.ts';
import { startPostgresServer } from '../test/support/postgres-server.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { endOfStream } from '../test/support/subscriptions.ts';
import {
  createMachines,
  resumingSubscriber,
  settled,
  startDevices,
  startServices,
  stateEvents,
  storedReadings,
  watchReadiness,
  type ResumingSubscriber,
} from '../test/support/traffic.ts';
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
  for (const [name, child] of Object.entries(network.processes())) {
    const running = child?.pid !== undefined && child.exitCode === null && child.signalCode === null;
    const mib = running ? rssMiB(child.pid!) : undefined;
    if (mib !== undefined) (rss[name] ??= []).push(mib);
  }
};

try {
  await startServices(network);
  await createMachines(network, ORGS, TWINS);
  const startCursor = await endOfStream({ nats: await network.connectAs({ kind: 'operator' }, 'bench-operator'), subjectPrefix: network.subjectPrefix });
  const rssTimer = setInterval(sampleRss, 5000);
  sampleRss();

  const devices = await startDevices(network, { orgs: ORGS, machines: TWINS, rate: RATE });
  const { readings } = devices;

  // Subscribers: two per gateway and one more, each on one organization's twins with its administrator's token.
  let phase = 'steady';
  const latencies = new Map<string, number[]>();
  const subscribers = (['acme', 'acme', 'globex', 'initech', 'acme'] as const).map((org, index) => {
    const gateway = gateways[index % gateways.length]!;
    return resumingSubscriber({
      name: `${index + 1} ${org}@${gateway.name}`,
      org,
      gateway,
      token: network.adminTokens[org]!,
      after: startCursor,
      sentAt: devices.sentAt,
      onLatency: (ms) => {
        let list = latencies.get(phase);
        if (!list) latencies.set(phase, (list = []));
        list.push(ms);
      },
    });
  });
  disposers.add(() => Promise.all(subscribers.map((s) => s.finish())));

  interface Fault {
    name: string;
    /** Breaks the dependency and puts it back; resolves once it is back. */
    inject: () => Promise<void>;
    affects: (subscriber: ResumingSubscriber) => boolean;
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
    const readiness = watchReadiness(services, recovery);
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

  await devices.stop();
  clearInterval(rssTimer);
  sampleRss();

  // Every reading JetStream took is stored (or dead-lettered), and every event published.
  await settled(network, ORGS, 120_000).catch((error: unknown) => console.log(`not settled: ${String(error)}`));
  const { stored, deadLetters } = await storedReadings(network, ORGS);
  // Every STATE event in the stream since the start, by organization: what each subscriber is owed.
  const owed = await stateEvents(network, startCursor);
  await eventually(
    async () => {
      for (const s of subscribers) {
        const received = new Set(s.received);
        if ((owed.get(s.org) ?? []).some((seq) => !received.has(seq))) throw new Error(`${s.name} misses events`);
      }
    },
    { timeout: 120_000, interval: 250 },
  ).catch(() => undefined);
  await Promise.all(subscribers.map((s) => s.finish()));

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
    const received = new Set(s.received);
    const lost = mine.filter((seq) => !received.has(seq)).length;
    const duplicated = s.received.length - received.size;
    failed ||= lost > 0 || duplicated > 0;
    console.log(
      `${s.name.padEnd(20)} ${String(s.sessions).padStart(9)} ${String(mine.length).padStart(8)} ${String(received.size).padStart(9)} ${String(lost).padStart(6)} ${String(duplicated).padStart(11)}  ${[...s.errors].slice(0, 4).join('; ') || '-'}`,
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
} catch (error) {
  for (const service of services) console.error(`--- ${service.name} (last lines of its log)\n${service.log()}`);
  throw error;
} finally {
  await disposers.dispose();
}
