// Soak: a network as an operator and a member run it — the directory, one organization and a
// gateway, each a process of its own started through the CLI (`twinx … serve`), on PostgreSQL and
// a nats-server of its own secured as the network's — under steady load for a bounded time:
//  - a device publishing telemetry batches on JetStream, bad messages mixed in (not JSON, unknown
//    twin, unknown metric, another organization's twin, too many readings);
//  - subscribers (graphql-ws) that leave and resume after their last cursor, and one that stays
//    to measure the latency from a device's publish to the subscriber;
//  - a hostile client: oversized and garbage bodies, bad tokens, over-deep queries, oversized and
//    unauthenticated WebSocket handshakes.
// Reports readings lost, dead letters, events lost and duplicated per subscriber, each process's
// RSS at start and end, and the event latency; exits 1 if anything was lost or duplicated.
//   npm run bench:soak [-- --minutes 10 --rate 20 --subscribers 4]
import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { decodeCursor } from '../lib/cursor.ts';
import { connectNats, natsNames, type NatsConnection } from '../lib/nats.ts';
import { freePort, spawnNatsServer } from '../lib/net.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import { NetworkBus } from '../subgraphs/directory/bus.ts';
import { createDirectoryDb } from '../subgraphs/directory/db.ts';
import { initNetwork } from '../subgraphs/directory/main.ts';
import { addOrganization, setStatus } from '../subgraphs/directory/registry.ts';
import { createOrgDb } from '../subgraphs/org/db.ts';
import { initOrg } from '../subgraphs/org/main.ts';
import { graphql } from '../test/support/graphql.ts';
import { createStore, Disposers, eventually } from '../test/support/services.ts';
import { endOfStream } from '../test/support/subscriptions.ts';
import { percentile } from './support.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    /** Device messages per second. */
    rate: { type: 'string', default: '20' },
    /** Subscribers that leave and resume (besides the one measuring latency). */
    subscribers: { type: 'string', default: '4' },
  },
});
const RUN_MS = Number(args.minutes) * 60_000;
const RATE = Number(args.rate);
const SUBSCRIBERS = Number(args.subscribers);
if (!(RUN_MS > 0 && RATE > 0 && SUBSCRIBERS >= 0)) throw new TypeError('--minutes and --rate must be positive, --subscribers at least 0');

const DAY = 86_400_000;
const KEY_SECRET = randomBytes(32).toString('hex');
const PREFIX = `soak_${randomBytes(4).toString('hex')}`;
const TWINS = ['acme:press-1', 'acme:press-2', 'acme:press-3'];
/** Every fifth device message is a bad one. */
const POISON_EVERY = 5;

/** Resident set size of a process, in MiB (Linux). */
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

const disposers = new Disposers();
const dir = await mkdtemp(join(tmpdir(), 'twinx-soak-'));
disposers.add(() => rm(dir, { recursive: true, force: true }));
const processes: Record<string, ChildProcess> = {};

/** Runs `twinx <command…>` as a process of its own, its logs in the soak's folder. */
function serve(name: string, command: string[], env: Record<string, string>): void {
  const log = openSync(join(dir, `${name}.log`), 'w');
  const child = spawn(process.execPath, ['bin/twinx.mjs', ...command], {
    // Metrics on ports of their own: no clash with services already running on this machine.
    env: { ...process.env, NODE_ENV: 'production', TWINX_SUBJECT_PREFIX: PREFIX, TWINX_KEY_SECRET: KEY_SECRET, TWINX_METRICS_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', log, log],
  });
  processes[name] = child;
  disposers.add(async () => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
}

async function ready(url: string, check: (body: Record<string, unknown>) => boolean = () => true): Promise<void> {
  await eventually(
    async () => {
      const response = await fetch(url);
      const body = (await response.json()) as Record<string, unknown>;
      if (!response.ok || !check(body)) throw new Error(`${url}: ${JSON.stringify(body)}`);
    },
    { timeout: 180_000, interval: 250 },
  );
}

try {
  // The operator's and the organization's stores, the network's NATS keys and server.
  const directoryStore = await createStore('directory');
  disposers.add(directoryStore.drop);
  const operatorStore = await createStore('org');
  disposers.add(operatorStore.drop);
  const acmeStore = await createStore('org');
  disposers.add(acmeStore.drop);
  const network = { databaseUrl: directoryStore.url, operatorDatabaseUrl: operatorStore.url, keySecret: KEY_SECRET };
  const { natsServerConfig } = await initNetwork(network, 'soak', DAY);
  await writeFile(join(dir, 'nats.conf'), await natsServerConfig(join(dir, 'jwt')));
  const natsPort = await freePort();
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  processes['nats-server'] = await spawnNatsServer(natsPort, join(dir, 'jetstream'), join(dir, 'nats.conf'));
  disposers.add(async () => void processes['nats-server']!.kill('SIGTERM'));

  // What the operator does to add the organization (`twinx network add`, `network credentials`).
  const [directoryPort, acmePort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
  const acmeUrl = `http://127.0.0.1:${acmePort}/graphql`;
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}/graphql`;
  const directoryDb = createDirectoryDb({ databaseUrl: directoryStore.url, poolSize: 1 });
  disposers.add(() => directoryDb.$disconnect());
  await addOrganization(directoryDb, { slug: 'acme', name: 'ACME', subgraphUrl: acmeUrl, jwksUrl: `http://127.0.0.1:${acmePort}/.well-known/jwks.json` });
  await setStatus(directoryDb, 'acme', 'ACTIVE');
  const bus = (await NetworkBus.open(directoryDb, KEY_SECRET))!;
  const credsFile = async (name: string, role: Parameters<NetworkBus['credentials']>[0]) => {
    const file = join(dir, `${name}.creds`);
    await writeFile(file, (await bus.credentials(role, PREFIX)).creds, { mode: 0o600 });
    return file;
  };
  const acmeCreds = await credsFile('acme', { kind: 'member', org: 'acme' });
  const gatewayCreds = await credsFile('gateway', { kind: 'gateway' });
  const connectAs = async (role: Parameters<NetworkBus['credentials']>[0], name: string): Promise<NatsConnection> => {
    const nats = await connectNats(natsUrl, name, (await bus.credentials(role, PREFIX)).creds);
    disposers.add(() => nats.drain());
    return nats;
  };
  const operator = await connectAs({ kind: 'operator' }, 'soak-operator');
  const device = await connectAs({ kind: 'device', org: 'acme', device: 'soak' }, 'soak-device');
  const adminToken = (await initOrg({ org: 'acme', databaseUrl: acmeStore.url, keySecret: KEY_SECRET }, 'soak', DAY, 'soak-admin'))!.token;
  const auth = tokenHeaders([adminToken]);

  const starting = performance.now();
  serve('directory', ['directory', 'serve'], {
    DATABASE_URL: directoryStore.url,
    TWINX_OPERATOR_DATABASE_URL: operatorStore.url,
    NATS_URL: natsUrl,
    TWINX_PORT: String(directoryPort),
  });
  serve('org acme', ['org', 'serve'], {
    TWINX_ORG: 'acme',
    DATABASE_URL: acmeStore.url,
    NATS_URL: natsUrl,
    NATS_CREDS: acmeCreds,
    TWINX_PORT: String(acmePort),
  });
  await ready(`http://127.0.0.1:${directoryPort}/readyz`);
  // A gateway reads the registry when it starts.
  serve('gateway', ['gateway', 'serve'], {
    TWINX_DIRECTORY_URL: `http://127.0.0.1:${directoryPort}/graphql`,
    NATS_URL: natsUrl,
    NATS_CREDS: gatewayCreds,
    TWINX_PORT: String(gatewayPort),
  });
  await ready(`http://127.0.0.1:${acmePort}/readyz`, (body) => body.deviceIngest === true);
  await ready(`http://127.0.0.1:${gatewayPort}/readyz`);
  for (const id of TWINS) {
    const created = await graphql(
      acmeUrl,
      `
        mutation ($input: TwinInput!) {
          acme {
            createTwin(input: $input) {
              id
            }
          }
        }
      `,
      {
        input: { id, name: id, kind: 'press', metrics: [{ name: 'force', unit: 'kN' }] },
      },
      auth,
    );
    if (created.errors) throw new Error(JSON.stringify(created.errors));
  }
  await eventually(
    async () => {
      const listed = await graphql(gatewayUrl, '{ twins(first: 10) { edges { node { id } } } }', {}, auth);
      if (listed.data?.twins?.edges?.length !== TWINS.length) throw new Error(`gateway: ${JSON.stringify(listed)}`);
    },
    { timeout: 60_000, interval: 250 },
  );
  console.log(`network up in ${((performance.now() - starting) / 1000).toFixed(1)} s (processes started through the CLI); soak for ${args.minutes} min`);

  const names = natsNames(PREFIX);
  const jsm = await jetstreamManager(operator);
  const startCursor = await endOfStream({ nats: operator, subjectPrefix: PREFIX });
  const rssStart = Object.fromEntries(Object.entries(processes).map(([name, child]) => [name, rssMiB(child.pid!)]));
  const deadline = Date.now() + RUN_MS;
  const running = () => Date.now() < deadline;

  // The device: one reading per good message, its value the message's number.
  const sentAt = new Map<number, number>();
  const device$ = (async () => {
    const js = jetstream(device);
    const base = Date.now() - DAY;
    const counts = { good: 0, poison: 0, refused: 0 };
    const reading = (n: number, patch: Record<string, unknown> = {}) => ({
      twinId: TWINS[n % TWINS.length],
      metric: 'force',
      at: new Date(base + n * 1000).toISOString(),
      value: n,
      ...patch,
    });
    const poison = [
      () => '{"readings": [',
      (n: number) => JSON.stringify({ readings: [reading(n, { twinId: 'acme:ghost' })] }),
      (n: number) => JSON.stringify({ readings: [reading(n, { metric: 'torque' })] }),
      (n: number) => JSON.stringify({ readings: [reading(n, { twinId: 'globex:mill-1' })] }),
      (n: number) => JSON.stringify({ readings: Array.from({ length: 5001 }, () => reading(n)) }),
    ];
    // On a fixed schedule: a slow publish is caught up on, so the rate holds on average.
    const started = Date.now();
    for (let n = 1; running(); n++) {
      const bad = n % POISON_EVERY === 0;
      const body = bad ? poison[(n / POISON_EVERY) % poison.length]!(n) : JSON.stringify({ readings: [reading(n)] });
      if (!bad) sentAt.set(n, performance.now());
      try {
        await js.publish(names.ingestSubject('acme'), body);
        counts[bad ? 'poison' : 'good']++;
      } catch {
        // Not accepted by JetStream: the device still has it (not sent, so not lost).
        sentAt.delete(n);
        counts.refused++;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (n * 1000) / RATE - Date.now())));
    }
    return counts;
  })();

  // Subscribers. Each event is identified by the device message it came from (its value).
  const query = `subscription($after: String) { twinEvents(filter: { orgs: ["acme"], types: [STATE] }, after: $after) { cursor state { metrics { value } } } }`;
  interface Subscriber {
    received: Map<number, number>;
    cursor: string;
    sessions: number;
    errors: string[];
  }
  /** One connection: events until `until` resolves (or the server ends it). */
  async function session(subscriber: Subscriber, until: Promise<unknown>, onEvent?: (value: number) => void): Promise<void> {
    const client = createClient({ url: gatewayUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: auth, retryAttempts: 0, lazy: true });
    subscriber.sessions++;
    // Once it leaves, a subscriber takes nothing more from this connection: it resumes after the last event it took.
    let live = true;
    const ended = new Promise<void>((resolve) => {
      client.subscribe<{ twinEvents: { cursor: string; state: { metrics: { value: number }[] } } }>(
        { query, variables: { after: subscriber.cursor } },
        {
          next: ({ data, errors }) => {
            if (errors) subscriber.errors.push(JSON.stringify(errors));
            if (!data || !live) return;
            const value = data.twinEvents.state.metrics[0]!.value;
            subscriber.received.set(value, (subscriber.received.get(value) ?? 0) + 1);
            subscriber.cursor = data.twinEvents.cursor;
            onEvent?.(value);
          },
          error: (error) => {
            subscriber.errors.push(error instanceof Error ? error.message : JSON.stringify(error));
            resolve();
          },
          complete: resolve,
        },
      );
    });
    await Promise.race([until, ended]);
    live = false;
    await client.dispose();
  }
  const newSubscriber = (): Subscriber => ({ received: new Map(), cursor: startCursor, sessions: 0, errors: [] });
  const latencies: number[] = [];
  const steady = newSubscriber();
  let caughtUp!: () => void;
  const eventsCounted = new Promise<void>((resolve) => (caughtUp = resolve));
  const steady$ = session(steady, eventsCounted, (value) => {
    const sent = sentAt.get(value);
    if (sent !== undefined) latencies.push(performance.now() - sent);
  });
  const resuming = Array.from({ length: SUBSCRIBERS }, newSubscriber);
  const resuming$ = resuming.map(async (subscriber) => {
    while (running()) await session(subscriber, new Promise((resolve) => setTimeout(resolve, 2000 + Math.random() * 13_000)));
    // The last session lasts until every event is counted.
    await session(subscriber, eventsCounted);
  });

  // The hostile client, one request at a time; health checks timed meanwhile.
  const hostile: Record<string, Record<string, number>> = {};
  const count = (name: string, outcome: string) => ((hostile[name] ??= {})[outcome] = (hostile[name]![outcome] ?? 0) + 1);
  const post = (body: string, headers: Record<string, string> = auth) =>
    fetch(gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(async (response) => {
      const json = (await response.json().catch(() => null)) as { errors?: { extensions?: { code?: string } }[] } | null;
      return `${response.status} ${json?.errors?.[0]?.extensions?.code ?? ''}`.trim();
    });
  const handshake = (payload: string) =>
    new Promise<string>((resolve) => {
      const socket = new WebSocket(gatewayUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
      socket.on('open', () => socket.send(payload));
      socket.on('message', (raw) => {
        resolve(`message ${JSON.parse(raw.toString()).type}`);
        socket.close();
      });
      socket.on('close', (code) => resolve(`closed ${code}`));
      socket.on('error', (error) => resolve(`error ${error.message}`));
    });
  const attacks: [string, () => Promise<string>][] = [
    ['9 MiB body', () => post(JSON.stringify({ query: `{ twins { edges { node { id } } } }`, pad: 'x'.repeat(9 * 2 ** 20) }))],
    ['garbage body', () => post('{"query": "{ twins', auth)],
    ['bad token', () => post(JSON.stringify({ query: '{ twins(first: 1) { edges { node { id } } } }' }), { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' })],
    ['no token', () => post(JSON.stringify({ query: '{ twins(first: 1) { edges { node { id } } } }' }), {})],
    ['depth 40', () => post(JSON.stringify({ query: `{ twin(id: "acme:press-1") { ${'suppliedBy { '.repeat(40)}id${' }'.repeat(40)} } }` }))],
    ['2,000 aliases', () => post(JSON.stringify({ query: `{ ${Array.from({ length: 2000 }, (_, i) => `a${i}: __typename`).join(' ')} }` }))],
    ['ws bad token', () => handshake(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer nonsense' } }))],
    ['ws 8 MiB init', () => handshake(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(8 * 2 ** 20) } }))],
  ];
  const health: number[] = [];
  const hostile$ = (async () => {
    for (let i = 0; running(); i++) {
      const [name, attack] = attacks[i % attacks.length]!;
      count(name, await attack().catch((error: unknown) => `failed ${error instanceof Error ? error.message : String(error)}`));
      const begin = performance.now();
      await fetch(gatewayUrl.replace('/graphql', '/healthz'));
      health.push(performance.now() - begin);
    }
  })();

  const sent = await device$;
  await hostile$;
  const rssEnd = Object.fromEntries(Object.entries(processes).map(([name, child]) => [name, rssMiB(child.pid!)]));

  // Everything the device handed over is stored or dead-lettered, and nothing waits.
  await eventually(
    async () => {
      const info = await jsm.consumers.info(names.ingestStream('acme'), 'org-ingest');
      if (info.num_pending + info.num_ack_pending > 0) throw new Error(`ingest: ${info.num_pending} waiting, ${info.num_ack_pending} pending`);
    },
    { timeout: 120_000, interval: 250 },
  );
  const ingest = await jsm.consumers.info(names.ingestStream('acme'), 'org-ingest');
  const deadLetters = (await jsm.streams.info(names.deadLetterStream('acme'))).state.messages;
  const acmeDb = createOrgDb({ databaseUrl: acmeStore.url, poolSize: 1 });
  const stored = await acmeDb.reading.count();
  await acmeDb.$disconnect();

  // Every STATE event in the stream since the start: what each subscriber is owed.
  const events = await jetstream(operator).consumers.get(names.eventsStream, {
    filter_subjects: `${PREFIX}.events.acme.*.state`,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Number(decodeCursor('event', startCursor)) + 1,
  });
  const owed = new Set<number>();
  for (let pending = (await events.info()).num_pending; pending > 0; pending--) {
    const message: JsMsg | null = await events.next({ expires: 5000 });
    if (!message) break;
    owed.add(message.json<{ state: { metrics: { value: number }[] } }>().state.metrics[0]!.value);
  }
  await eventually(
    async () => {
      for (const subscriber of [steady, ...resuming]) {
        const missing = [...owed].filter((value) => !subscriber.received.has(value)).length;
        if (missing > 0) throw new Error(`a subscriber misses ${missing} events`);
      }
    },
    { timeout: 60_000, interval: 250 },
  ).catch(() => undefined);
  caughtUp();
  await steady$;
  await Promise.all(resuming$);

  const sorted = [...latencies].sort((a, b) => a - b);
  const healthSorted = [...health].sort((a, b) => a - b);
  let failed = sent.good - stored !== 0 || deadLetters !== sent.poison;
  console.log(
    `\ndevice: ${sent.good} good messages (one reading each), ${sent.poison} bad ones (${((sent.good + sent.poison) / (RUN_MS / 1000)).toFixed(1)}/s), ${sent.refused} refused by JetStream`,
  );
  console.log(
    `readings stored ${stored}, lost ${sent.good - stored}; dead letters ${deadLetters} (bad messages ${sent.poison}); redelivered ${ingest.num_redelivered}`,
  );
  console.log(`STATE events in the stream ${owed.size} (one per good message: ${owed.size === sent.good ? 'yes' : 'NO'})`);
  console.log(`${'subscriber'.padEnd(14)} ${'sessions'.padStart(9)} ${'received'.padStart(9)} ${'lost'.padStart(6)} ${'duplicated'.padStart(11)}  errors`);
  for (const [name, subscriber] of [['steady', steady] as const, ...resuming.map((s, i) => [`resuming ${i + 1}`, s] as const)]) {
    const lost = [...owed].filter((value) => !subscriber.received.has(value)).length;
    const duplicated = [...subscriber.received.values()].reduce((sum, times) => sum + times - 1, 0);
    failed ||= lost > 0 || duplicated > 0;
    const line = `${name.padEnd(14)} ${String(subscriber.sessions).padStart(9)} ${String(subscriber.received.size).padStart(9)} ${String(lost).padStart(6)} ${String(duplicated).padStart(11)}`;
    console.log(`${line}  ${subscriber.errors.slice(0, 3).join('; ') || '-'}`);
  }
  console.log(
    `event latency, device publish to steady subscriber (${sorted.length} events): p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
  );
  console.log(
    `gateway /healthz during the hostile client (${healthSorted.length}): p50 ${percentile(healthSorted, 50).toFixed(1)} ms, p99 ${percentile(healthSorted, 99).toFixed(1)} ms`,
  );
  console.log('hostile client, answers by request:');
  for (const [name, outcomes] of Object.entries(hostile))
    console.log(
      `  ${name.padEnd(16)} ${Object.entries(outcomes)
        .map(([outcome, times]) => `${outcome} ×${times}`)
        .join(', ')}`,
    );
  console.log(`${'RSS (MiB)'.padEnd(14)} ${'start'.padStart(8)} ${'end'.padStart(8)}`);
  for (const name of Object.keys(processes))
    console.log(`${name.padEnd(14)} ${rssStart[name]!.toFixed(0).padStart(8)} ${rssEnd[name]!.toFixed(0).padStart(8)}`);
  console.log(failed ? '\nFAILED: readings or events lost or duplicated' : '\nnothing lost, nothing duplicated');
  process.exitCode = failed ? 1 : 0;
} catch (error) {
  for (const name of Object.keys(processes).filter((n) => n !== 'nats-server')) {
    console.error(
      `--- ${name} (last lines of its log)\n${readFileSync(join(dir, `${name}.log`), 'utf8')
        .split('\n')
        .slice(-15)
        .join('\n')}`,
    );
  }
  throw error;
} finally {
  await disposers.dispose();
}
