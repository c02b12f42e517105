// A network as an operator and its members run it, for tests and benchmarks that start, kill and
// restart its parts: the network's nats-server, the directory, organizations and gateways, each a
// process of its own started through the CLI (`twinx … serve`), on PostgreSQL, their logs in one folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { migrateDeploy } from '../../lib/db/migrate.ts';
import { connectNats, type NatsConnection } from '../../lib/nats.ts';
import { freePort, spawnNatsServer } from '../../lib/net.ts';
import { NetworkBus } from '../../subgraphs/directory/bus.ts';
import { createDirectoryDb } from '../../subgraphs/directory/db.ts';
import { initNetwork } from '../../subgraphs/directory/main.ts';
import { addOrganization, setStatus } from '../../subgraphs/directory/registry.ts';
import { initOrg } from '../../subgraphs/org/main.ts';
import { createStore, Disposers } from './services.ts';

const DAY = 86_400_000;
const TWINX = new URL('../../bin/twinx.mjs', import.meta.url).pathname;

/**
 * Resident set size of a process, in MiB (Linux); undefined once it has exited (a process killed
 * but not yet reaped has no memory left, nor a VmRSS line).
 */
export function rssMiB(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const line = status.split('\n').find((l) => l.startsWith('VmRSS:'));
  return line === undefined ? undefined : Number(line.split(/\s+/)[1]) / 1024;
}

/** One service of the network, run as a process that can be killed and started again. */
export interface ServiceProcess {
  readonly name: string;
  /** Its GraphQL URL. */
  readonly url: string;
  /** The running process, if any. */
  readonly child: ChildProcess | undefined;
  /** Spawns it (again); resolves with the time of the spawn (`performance.now()`). */
  start(): number;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** What `/readyz` answers now: its status and body, or the connection error. */
  readiness(): Promise<{ status: number; body: unknown }>;
  /** Resolves once `/readyz` answers 200 (and `check` holds on its body). */
  ready(check?: (body: Record<string, unknown>) => boolean, timeout?: number): Promise<void>;
  /** The last lines of its log. */
  log(lines?: number): string;
}

export interface CliNetwork {
  readonly subjectPrefix: string;
  readonly natsUrl: string;
  /** The network's nats-server, restarted by `restartNats()`. */
  readonly nats: { child: ChildProcess; restart(): Promise<void> };
  readonly directory: ServiceProcess;
  readonly orgs: Record<string, ServiceProcess>;
  readonly gateways: ServiceProcess[];
  /** Every process, nats-server included, by name. */
  processes(): Record<string, ChildProcess | undefined>;
  /** The first administrator token of each organization. */
  readonly adminTokens: Record<string, string>;
  /** Each organization's store. */
  readonly orgDatabaseUrls: Record<string, string>;
  /** A NATS connection with a role's credentials, drained when the network stops. */
  connectAs(role: Parameters<NetworkBus['credentials']>[0], name: string): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export interface CliNetworkOptions {
  orgs: readonly string[];
  gateways: number;
  /** The database URL (migrated here) of an organization, else a new database on the test PostgreSQL. */
  orgDatabaseUrl?: (org: string) => string | undefined;
  /** More environment for every service's process. */
  env?: Record<string, string>;
  /** More environment for the process of gateway `index` (from 0). */
  gatewayEnv?: (index: number) => Record<string, string>;
}

/** Sets up the stores, keys and nats-server of a network, and its services' processes (not started). */
export async function cliNetwork(options: CliNetworkOptions): Promise<CliNetwork> {
  const disposers = new Disposers();
  const dir = await mkdtemp(join(tmpdir(), 'twinx-bench-'));
  disposers.add(() => rm(dir, { recursive: true, force: true }));
  const keySecret = randomBytes(32).toString('hex');
  const subjectPrefix = `bench_${randomBytes(4).toString('hex')}`;
  const store = async (kind: 'directory' | 'org') => {
    const created = await createStore(kind);
    disposers.add(created.drop);
    return created.url;
  };
  const directoryStore = await store('directory');
  const operatorStore = await store('org');
  const { natsServerConfig } = await initNetwork({ databaseUrl: directoryStore, operatorDatabaseUrl: operatorStore, keySecret }, 'bench', DAY);
  await writeFile(join(dir, 'nats.conf'), await natsServerConfig(join(dir, 'jwt')));
  const natsPort = await freePort();
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const startNats = () => spawnNatsServer(natsPort, join(dir, 'jetstream'), join(dir, 'nats.conf'));
  const nats = { child: await startNats(), restart: async () => void (nats.child = await startNats()) };
  disposers.add(async () => void nats.child.kill('SIGTERM'));

  const directoryDb = createDirectoryDb({ databaseUrl: directoryStore, poolSize: 1 });
  disposers.add(() => directoryDb.$disconnect());
  const bus = (await NetworkBus.open(directoryDb, keySecret))!;
  const credsFile = async (name: string, role: Parameters<NetworkBus['credentials']>[0]) => {
    const file = join(dir, `${name}.creds`);
    await writeFile(file, (await bus.credentials(role, subjectPrefix)).creds, { mode: 0o600 });
    return file;
  };
  const connectAs = async (role: Parameters<NetworkBus['credentials']>[0], name: string) => {
    const connection = await connectNats(natsUrl, name, (await bus.credentials(role, subjectPrefix)).creds);
    disposers.add(() => connection.drain());
    return connection;
  };

  const service = async (name: string, command: string[], env: Record<string, string>): Promise<ServiceProcess> => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let child: ChildProcess | undefined;
    const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
    const log = (lines = 15) =>
      readFileSync(join(dir, `${name}.log`), 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (!running()) return;
      const exited = once(child!, 'exit');
      child!.kill(signal);
      await exited;
    };
    disposers.add(() => kill());
    const readiness = async () => {
      try {
        const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) });
        return { status: response.status, body: await response.json() };
      } catch (error) {
        return { status: 0, body: error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error) };
      }
    };
    return {
      name,
      url: `${base}/graphql`,
      get child() {
        return child;
      },
      start() {
        const output = openSync(join(dir, `${name}.log`), 'a');
        child = spawn(process.execPath, [TWINX, ...command], {
          // Metrics on ports of their own: no clash with services already running on this machine.
          env: {
            ...process.env,
            NODE_ENV: 'production',
            TWINX_SUBJECT_PREFIX: subjectPrefix,
            TWINX_KEY_SECRET: keySecret,
            TWINX_METRICS_LISTEN: '127.0.0.1:0',
            NATS_URL: natsUrl,
            TWINX_PORT: String(port),
            ...options.env,
            ...env,
          },
          stdio: ['ignore', output, output],
        });
        return performance.now();
      },
      kill,
      readiness,
      async ready(check = () => true, timeout = 180_000) {
        const deadline = Date.now() + timeout;
        for (;;) {
          const { status, body } = await readiness();
          if (status === 200 && check(body as Record<string, unknown>)) return;
          if (!running() || Date.now() > deadline) {
            const why = running() ? `${status} ${JSON.stringify(body)}` : `exited ${child?.exitCode ?? child?.signalCode}`;
            throw new Error(`${name} not ready (${why}):\n${log(15)}`);
          }
          await sleep(20);
        }
      },
      log,
    };
  };
  const directory = await service('directory', ['directory', 'serve'], { DATABASE_URL: directoryStore, TWINX_OPERATOR_DATABASE_URL: operatorStore });
  const orgs: Record<string, ServiceProcess> = {};
  const adminTokens: Record<string, string> = {};
  const orgDatabaseUrls: Record<string, string> = {};
  for (const org of options.orgs) {
    const given = options.orgDatabaseUrl?.(org);
    if (given) await migrateDeploy({ kind: 'org', databaseUrl: given });
    const databaseUrl = (orgDatabaseUrls[org] = given ?? (await store('org')));
    adminTokens[org] = (await initOrg({ org, databaseUrl, keySecret }, 'bench', DAY, 'bench-admin'))!.token;
    orgs[org] = await service(`org-${org}`, ['org', 'serve'], {
      TWINX_ORG: org,
      DATABASE_URL: databaseUrl,
      NATS_CREDS: await credsFile(org, { kind: 'member', org }),
    });
    const origin = new URL(orgs[org].url).origin;
    await addOrganization(directoryDb, { slug: org, name: org, subgraphUrl: orgs[org].url, jwksUrl: `${origin}/.well-known/jwks.json` });
    await setStatus(directoryDb, org, 'ACTIVE');
  }
  const gatewayCreds = await credsFile('gateway', { kind: 'gateway' });
  const gateways = await Promise.all(
    Array.from({ length: options.gateways }, (_, i) =>
      service(`gateway-${i + 1}`, ['gateway', 'serve'], { TWINX_DIRECTORY_URL: directory.url, NATS_CREDS: gatewayCreds, ...options.gatewayEnv?.(i) }),
    ),
  );
  const services = [directory, ...Object.values(orgs), ...gateways];
  return {
    subjectPrefix,
    natsUrl,
    nats,
    directory,
    orgs,
    gateways,
    adminTokens,
    orgDatabaseUrls,
    connectAs,
    processes: () => ({ 'nats-server': nats.child, ...Object.fromEntries(services.map((s) => [s.name, s.child])) }),
    stop: () => disposers.dispose(),
  };
}
