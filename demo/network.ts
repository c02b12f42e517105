import { jetstream } from '@nats-io/jetstream';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createGateway } from '../gateway/server.ts';
import { migrateDeploy } from '../lib/db/migrate.ts';
import { ErrorCode, TwinxError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { freePort, spawnNatsServer } from '../lib/net.ts';
import { startOrStop } from '../lib/run.ts';
import { connectNats, natsNames, type NatsConnection } from '../lib/nats.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import { initNetwork, migrateNetworkStores, startDirectory } from '../subgraphs/directory/main.ts';
import { NetworkBus } from '../subgraphs/directory/bus.ts';
import type { BusRole } from '../lib/bus/credentials.ts';
import { addOrganization, setStatus } from '../subgraphs/directory/registry.ts';
import { unrestricted, Access } from '../subgraphs/org/access.ts';
import { createSigningKey } from '../subgraphs/org/auth/keys.ts';
import { issueGrant, issueMemberToken } from '../subgraphs/org/grants/store.ts';
import { withOrgDb } from '../subgraphs/org/db.ts';
import { startOrgSubgraph } from '../subgraphs/org/main.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { DEFAULT_LIMITS } from '../subgraphs/org/server.ts';
import { createTwin } from '../subgraphs/org/twins/store.ts';
import { DEMO_GRANTS, DEMO_ORGS, DEMO_TWINS } from './seed.ts';

export interface DemoOptions {
  /** Where the stores live: `pglite` directories under `dataDir`, or databases on this PostgreSQL server. */
  postgresUrl?: string;
  dataDir: string;
  /**
   * The gateway's port; the organizations take the next ones and the directory the one 100
   * above, as a real network's defaults are laid out (4000, 4001…, 4100). 0: free ports.
   */
  port: number;
  /** NATS subject prefix of the demo network. */
  subjectPrefix: string;
  logger: Logger;
}

const DAY = 86_400_000;
/** Encrypts the demo stores' private keys. A demo's keys protect nothing: never use it elsewhere. */
const DEMO_KEY_SECRET = 'twinx-demo-only-this-protects-nothing';

/**
 * The demo's own NATS server (JetStream), trusting the demo network's operator, as a real
 * network's does (`twinx network init` writes the same configuration): every service connects
 * with credentials of its own, and nats-server enforces what each may do.
 */
async function demoNats(dataDir: string, serverConfig: (jwtDir: string) => Promise<string>): Promise<{ url: string; process: ChildProcess }> {
  const natsDir = join(dataDir, 'nats');
  mkdirSync(natsDir, { recursive: true });
  const configFile = join(natsDir, 'nats.conf');
  writeFileSync(configFile, await serverConfig(resolve(natsDir, 'jwt')), { mode: 0o600 });
  const port = await freePort();
  try {
    return { url: `nats://127.0.0.1:${port}`, process: await spawnNatsServer(port, join(natsDir, 'jetstream'), configFile) };
  } catch (error) {
    throw new Error('the demo needs nats-server 2.9 or later on the PATH (Debian/Ubuntu: apt install nats-server; macOS: brew install nats-server)', {
      cause: error,
    });
  }
}

/** A store location per service: a PGlite directory, or a database on the PostgreSQL server. */
async function storeLocation(options: DemoOptions, service: string): Promise<string> {
  if (!options.postgresUrl) return `pglite:${join(options.dataDir, service)}`;
  const name = `twinx_demo_${service}`;
  const client = new pg.Client({ connectionString: options.postgresUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(options.postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A demo organization: store migrated, first key, its twins, on first run only. */
async function prepareOrg(slug: string, databaseUrl: string, keySecret: string): Promise<void> {
  await migrateDeploy({ kind: 'org', databaseUrl });
  await withOrgDb({ databaseUrl }, async (db) => {
    if ((await db.signingKey.count()) > 0) return;
    await createSigningKey(db, keySecret);
    const base = { db, names: orgNames(slug), access: new Access(unrestricted('member', 'demo'), slug), limits: DEFAULT_LIMITS };
    for (const twin of DEMO_TWINS[slug] ?? []) await createTwin(base, twin);
  });
}

/** A slow random walk per metric, now and then out of its normal range. */
function sensorReadings(slug: string, at: Date): { twinId: string; metric: string; at: string; value: number }[] {
  return (DEMO_TWINS[slug] ?? []).flatMap((twin) =>
    (twin.metrics as { name: string; min?: number; max?: number }[]).map((metric) => {
      const low = metric.min ?? 0;
      const high = metric.max ?? low + 100;
      const outside = Math.random() < 0.03 ? (high - low) * 0.2 : 0;
      return { twinId: twin.id as string, metric: metric.name, at: at.toISOString(), value: Number((low + Math.random() * (high - low) + outside).toFixed(2)) };
    }),
  );
}

/**
 * A whole local network in this process: its own NATS server, the directory, three
 * organizations with seeded twins, grants and simulated sensors, and the gateway.
 */
export async function runDemo(options: DemoOptions) {
  const { logger, subjectPrefix } = options;
  const portOf = (offset: number) => (options.port === 0 ? 0 : options.port + offset);
  mkdirSync(options.dataDir, { recursive: true });
  const keySecret = DEMO_KEY_SECRET;
  const stops: (() => Promise<unknown>)[] = [];
  let sensors: NodeJS.Timeout | undefined;
  const stop = async () => {
    clearInterval(sensors);
    for (const stopService of stops) await stopService();
  };
  return startOrStop(startServices, stop, logger);

  async function startServices() {
    const network = { databaseUrl: await storeLocation(options, 'directory'), operatorDatabaseUrl: await storeLocation(options, 'operator'), keySecret };
    await migrateNetworkStores(network);
    const { natsServerConfig } = await initNetwork(network, 'demo', 90 * DAY);
    const natsServer = await demoNats(options.dataDir, natsServerConfig);
    stops.push(async () => natsServer.process.kill('SIGTERM'));
    const directory = await startDirectory({ ...network, natsUrl: natsServer.url, subjectPrefix, port: portOf(100), host: '127.0.0.1' }, logger);
    stops.unshift(directory.stop);
    const bus = (await NetworkBus.open(directory.db, keySecret))!;
    /** A NATS connection with credentials of its own, closed when the demo stops. */
    const connectAs = async (role: BusRole, name: string) => {
      const nats = await connectNats(natsServer.url, name, (await bus.credentials(role, subjectPrefix)).creds);
      stops.unshift(() => nats.drain());
      return nats;
    };

    const tokens: Record<string, string> = {};
    const issuers: Record<string, Awaited<ReturnType<typeof startOrgSubgraph>>['issuer']> = {};
    const devices: Record<string, NatsConnection> = {};
    for (const [index, org] of DEMO_ORGS.entries()) {
      const databaseUrl = await storeLocation(options, org.slug);
      await prepareOrg(org.slug, databaseUrl, keySecret);
      const nats = await connectAs({ kind: 'member', org: org.slug }, `twinx-demo-${org.slug}`);
      const started = await startOrgSubgraph(
        { org: org.slug, databaseUrl, keySecret, subjectPrefix, port: portOf(index + 1), host: '127.0.0.1' },
        nats,
        logger,
      );
      stops.unshift(started.stop);
      issuers[org.slug] = started.issuer;
      devices[org.slug] = await connectAs({ kind: 'device', org: org.slug, device: 'simulator' }, `twinx-demo-${org.slug}-sensors`);
      const endpoints = { subgraphUrl: started.subgraph.url, jwksUrl: new URL('/.well-known/jwks.json', started.subgraph.url).href };
      await addOrganization(directory.db, { slug: org.slug, name: org.name, ...endpoints }).catch(async (error: unknown) => {
        if (!(error instanceof TwinxError && error.code === ErrorCode.ALREADY_EXISTS)) throw error;
        // Registered on an earlier run, maybe on other ports.
        await directory.db.organization.update({ where: { slug: org.slug }, data: endpoints });
      });
      await setStatus(directory.db, org.slug, 'ACTIVE');
      tokens[`${org.slug}Admin`] = (
        await issueMemberToken(started.issuer, 'demo', { subject: 'admin', role: 'admin', expiresAt: new Date(Date.now() + 30 * DAY) })
      ).token;
    }
    await directory.directory.membershipChanged();
    // Ready once the directory's catalog holds every seeded twin (their lifecycle events travel
    // through each organization's outbox and NATS).
    const seeded = Object.values(DEMO_TWINS).flat().length;
    for (let waited = 0; (await directory.db.catalogTwin.count()) < seeded; waited += 100) {
      if (waited > 30_000) throw new Error('the directory did not receive the demo twins: is NATS JetStream working?');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const engineer = (await issueMemberToken(issuers.acme!, 'demo', { subject: 'engineer', role: 'viewer', expiresAt: new Date(Date.now() + 30 * DAY) })).token;
    const grants = [];
    for (const grant of DEMO_GRANTS) {
      const issued = await issueGrant(issuers[grant.org]!, 'demo', {
        partner: 'acme',
        scopes: grant.scopes,
        selector: grant.selector,
        expiresAt: new Date(Date.now() + 30 * DAY),
        note: 'demo',
      });
      grants.push(issued.token);
    }

    const gatewayNats = await connectAs({ kind: 'gateway' }, 'twinx-demo-gateway');
    const gateway = createGateway({
      directoryUrl: directory.directory.url,
      nats: gatewayNats,
      subjectPrefix,
      logger,
      port: options.port,
      stateDir: join(options.dataDir, 'gateway'),
    });
    await gateway.start();
    stops.unshift(() => gateway.stop());

    const names = natsNames(subjectPrefix);
    sensors = setInterval(() => {
      const at = new Date();
      for (const org of DEMO_ORGS) {
        jetstream(devices[org.slug]!)
          .publish(names.ingestSubject(org.slug), JSON.stringify({ readings: sensorReadings(org.slug, at) }))
          .catch((error) => logger.warn({ err: error }, 'sensor reading not published'));
      }
    }, 1000);

    const tokensFile = join(options.dataDir, 'tokens.json');
    const engineerHeaders = tokenHeaders([engineer, ...grants]);
    writeFileSync(
      tokensFile,
      `${JSON.stringify({ gateway: gateway.url, directory: directory.directory.url, subjectPrefix, acmeEngineerHeaders: engineerHeaders, adminTokens: tokens }, null, 2)}\n`,
      { mode: 0o600 },
    );

    return { gatewayUrl: gateway.url, natsUrl: natsServer.url, tokensFile, engineerHeaders, stop };
  }
}
