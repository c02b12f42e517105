import { jetstream } from '@nats-io/jetstream';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Persona } from '../gateway/console/serve.ts';
import { createGateway } from '../gateway/server.ts';
import { migrateDeploy } from '../lib/db/migrate.ts';
import { ErrorCode, TwinxError } from '../lib/errors.ts';
import { postGraphQL } from '../lib/graphql/client.ts';
import { parseTwinId } from '../lib/ids.ts';
import type { Logger } from '../lib/logger.ts';
import { freePort, spawnNatsServer } from '../lib/net.ts';
import { startOrStop, stopInOrder } from '../lib/run.ts';
import { closeNats, connectNats, ensureMemberStreams, ensureNetworkStreams, natsNames, type NatsConnection } from '../lib/nats.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import { ROLES } from '../lib/tokens/scopes.ts';
import { initNetwork, migrateNetworkStores, startDirectory } from '../subgraphs/directory/main.ts';
import { NetworkBus } from '../subgraphs/directory/bus.ts';
import { withDirectoryDb } from '../subgraphs/directory/db.ts';
import type { BusRole } from '../lib/bus/credentials.ts';
import { addOrganization, setStatus } from '../subgraphs/directory/registry.ts';
import { unrestricted, Access } from '../subgraphs/org/access.ts';
import { createSigningKey } from '../subgraphs/org/auth/keys.ts';
import { issueGrant, issueMemberToken } from '../subgraphs/org/grants/store.ts';
import { withOrgDb, type OrgDb } from '../subgraphs/org/db.ts';
import { startOrgSubgraph } from '../subgraphs/org/main.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { DEFAULT_LIMITS } from '../subgraphs/org/server.ts';
import { createTwin } from '../subgraphs/org/twins/store.ts';
import { DEMO_GRANTS, DEMO_MAINTENANCE, DEMO_ORGS, DEMO_TWINS } from './seed.ts';
import { backfillStart, SAMPLE_MS, SimulatedPlant, type SimulatedTwin } from './sensors.ts';

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

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
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

/**
 * A demo organization: store migrated, first key, its twins and their past failures and repairs,
 * on first run only. The history is written as it was, before the network existed: it announces
 * no disruption now.
 */
async function prepareOrg(slug: string, databaseUrl: string, keySecret: string): Promise<void> {
  await migrateDeploy({ kind: 'org', databaseUrl });
  await withOrgDb({ databaseUrl }, async (db) => {
    if ((await db.signingKey.count()) > 0) return;
    await createSigningKey(db, keySecret);
    const base = { db, names: orgNames(slug), access: new Access(unrestricted('member', 'demo'), slug), limits: DEFAULT_LIMITS };
    for (const twin of DEMO_TWINS[slug] ?? []) await createTwin(base, twin);
    for (const { twinId, failedDaysAgo, repairHours, note } of DEMO_MAINTENANCE[slug] ?? []) {
      const failed = Date.now() - failedDaysAgo * DAY;
      const record = { twinId: parseTwinId(twinId)!.localId, note, recordedBy: 'member:demo' };
      await db.maintenanceEvent.create({ data: { ...record, type: 'FAILURE', at: new Date(failed) } });
      await db.maintenanceEvent.create({ data: { ...record, type: 'REPAIR', at: new Date(failed + repairHours * HOUR) } });
    }
  });
}

/** The plant's seed: the demo network reads the same on every machine. */
const PLANT_SEED = 12;
/** The twin that wears out (its kind has a health model from the start), its local id and kind, from the seed. */
const WEARING_ID = 'acme:cnc-1';
const WEARING = {
  twinId: WEARING_ID,
  localId: parseTwinId(WEARING_ID)!.localId,
  kind: DEMO_TWINS.acme!.find((twin) => twin.id === WEARING_ID)!.kind as string,
};
/** An RUL alarm while p10 is within six minutes: some ten minutes into a first demo, before the failure it announces. */
const RUL_HORIZON_HOURS = 0.1;
/** Readings the plant's history is uploaded in per call: the organization's batch limit. */
const HISTORY_BATCH = DEFAULT_LIMITS.maxIngestBatch;

/** A GraphQL call to an organization with a member token; throws on any error. */
async function orgCall(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<void> {
  const { status, error } = await postGraphQL(url, token, query, variables);
  if (status < 200 || status >= 300 || error) throw new Error(`${url}: ${error ? `${error.code}: ${error.message}` : `HTTP ${status}`}`);
}

/**
 * The simulated plant, acting on ACME as its maintenance system would, through the API: records
 * the wearing twin's failures and repairs as they happen. On the organization's first start (the
 * twin has no readings yet), it also uploads the plant's history — runs to failure, sampled as
 * the live sensors are — and trains the kind's model, so that health and RUL show from the start.
 * Later starts pick the plant up where its history began, recording what happened meanwhile.
 */
async function openPlant(acme: { db: OrgDb; url: string; token: string; trained: () => Promise<void> }, logger: Logger) {
  const call = (query: string, variables: Record<string, unknown>) => orgCall(acme.url, acme.token, query, variables);
  const twins: SimulatedTwin[] = Object.values(DEMO_TWINS)
    .flat()
    .map((twin) => ({ id: twin.id as string, metrics: twin.metrics as SimulatedTwin['metrics'] }));
  const now = new Date();
  const first = await acme.db.reading.findFirst({ where: { twinId: WEARING.localId }, orderBy: { at: 'asc' }, select: { at: true } });
  const start = first?.at ?? backfillStart(PLANT_SEED, now);
  const plant = new SimulatedPlant({ seed: PLANT_SEED, twins, wearing: { twinId: WEARING.twinId, start } });
  const last = await acme.db.maintenanceEvent.findFirst({
    where: { twinId: WEARING.localId },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
    select: { at: true },
  });
  let recorded = last?.at ?? new Date(0);
  /** Records the failures and repairs up to `until` not recorded yet. */
  const maintain = async (until: Date) => {
    for (const event of plant.maintenance(recorded, until)) {
      const field = event.type === 'FAILURE' ? 'recordFailure' : 'recordRepair';
      await call(`mutation($twinId: ID!, $at: DateTime!) { acme { ${field}(twinId: $twinId, at: $at, note: "simulated") { at } } }`, {
        twinId: WEARING.twinId,
        at: event.at.toISOString(),
      });
      recorded = event.at;
    }
  };
  if (!first) {
    const started = performance.now();
    // Failures first: the trainings they start find no readings and end at once; one training follows the upload.
    await maintain(now);
    await acme.trained();
    const history = plant.history(start, now);
    for (let i = 0; i < history.length; i += HISTORY_BATCH) {
      await call('mutation($r: [ReadingInput!]!) { acme { ingestTelemetry(readings: $r) { accepted } } }', { r: history.slice(i, i + HISTORY_BATCH) });
    }
    await call('mutation($kind: String!, $h: Float) { acme { setHealthThresholds(kind: $kind, rulHorizonHours: $h) { kind } } }', {
      kind: WEARING.kind,
      h: RUL_HORIZON_HOURS,
    });
    await call('mutation($kind: String!) { acme { trainHealthModel(kind: $kind) { trainedAt } } }', { kind: WEARING.kind });
    logger.info({ readings: history.length, seconds: (performance.now() - started) / 1000 }, 'plant history uploaded and health model trained');
  }
  return { plant, maintain };
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
  /** The plant's maintenance records, one after the other. */
  let maintaining = Promise.resolve();
  const stop = async () => {
    clearInterval(sensors);
    await maintaining;
    // The NATS server last, whatever failed before it.
    await stopInOrder(stops, logger);
  };
  return startOrStop(startServices, stop, logger);

  async function startServices() {
    const network = { databaseUrl: await storeLocation(options, 'directory'), operatorDatabaseUrl: await storeLocation(options, 'operator'), keySecret };
    await migrateNetworkStores(network);
    const { natsServerConfig } = await initNetwork(network, 'demo', 90 * DAY);
    const natsServer = await demoNats(options.dataDir, natsServerConfig);
    // Gone before the demo exits: a demo started again at once opens the same JetStream store.
    stops.push(async () => {
      const exited = natsServer.process.exitCode === null && natsServer.process.signalCode === null && once(natsServer.process, 'exit');
      natsServer.process.kill('SIGTERM');
      await exited;
    });
    /** A NATS connection with credentials `bus` issues, closed when the demo stops. */
    const connectAs = async (bus: NetworkBus, role: BusRole, name: string) => {
      const nats = await connectNats(natsServer.url, name, (await bus.credentials(role, subjectPrefix)).creds);
      stops.unshift(() => closeNats(nats, logger));
      return nats;
    };

    // The organizations start first, then the directory, which finds its members up, as when a
    // network restarts (the demo's second run). Each gets its credentials and streams before, as
    // the operator gives them when it adds a member, and is registered before the directory starts.
    // The directory's store is opened by one user at a time (an embedded store): here, briefly.
    const { operatorNats, memberNats, devices } = await withDirectoryDb(network, async (db) => {
      const bus = (await NetworkBus.open(db, keySecret))!;
      const connections = {
        operatorNats: await connectAs(bus, { kind: 'operator' }, 'twinx-demo-operator'),
        memberNats: {} as Record<string, NatsConnection>,
        devices: {} as Record<string, NatsConnection>,
      };
      for (const { slug } of DEMO_ORGS) {
        connections.memberNats[slug] = await connectAs(bus, { kind: 'member', org: slug }, `twinx-demo-${slug}`);
        connections.devices[slug] = await connectAs(bus, { kind: 'device', org: slug, device: 'simulator' }, `twinx-demo-${slug}-sensors`);
      }
      return connections;
    });
    await ensureNetworkStreams(operatorNats, subjectPrefix);
    const tokens: Record<string, string> = {};
    const issuers: Record<string, Awaited<ReturnType<typeof startOrgSubgraph>>['issuer']> = {};
    const subgraphs: Record<string, Awaited<ReturnType<typeof startOrgSubgraph>>['subgraph']> = {};
    for (const [index, org] of DEMO_ORGS.entries()) {
      const databaseUrl = await storeLocation(options, org.slug);
      await prepareOrg(org.slug, databaseUrl, keySecret);
      await ensureMemberStreams(operatorNats, subjectPrefix, org.slug);
      const started = await startOrgSubgraph(
        { org: org.slug, databaseUrl, keySecret, subjectPrefix, port: portOf(index + 1), host: '127.0.0.1' },
        memberNats[org.slug]!,
        logger,
      );
      stops.unshift(started.stop);
      issuers[org.slug] = started.issuer;
      subgraphs[org.slug] = started.subgraph;
      tokens[`${org.slug}Admin`] = (
        await issueMemberToken(started.issuer, 'demo', { subject: 'admin', role: 'admin', expiresAt: new Date(Date.now() + 30 * DAY) })
      ).token;
    }
    await withDirectoryDb(network, async (db) => {
      for (const org of DEMO_ORGS) {
        const { url } = subgraphs[org.slug]!;
        const endpoints = { subgraphUrl: url, jwksUrl: new URL('/.well-known/jwks.json', url).href };
        await addOrganization(db, { slug: org.slug, name: org.name, ...endpoints }).catch(async (error: unknown) => {
          if (!(error instanceof TwinxError && error.code === ErrorCode.ALREADY_EXISTS)) throw error;
          // Registered on an earlier run, maybe on other ports.
          await db.organization.update({ where: { slug: org.slug }, data: endpoints });
        });
        await setStatus(db, org.slug, 'ACTIVE');
      }
    });
    const directory = await startDirectory({ ...network, natsUrl: natsServer.url, subjectPrefix, port: portOf(100), host: '127.0.0.1' }, logger);
    stops.unshift(directory.stop);
    // Ready once the directory's catalog holds every seeded twin (their lifecycle events travel
    // through each organization's outbox and NATS).
    const seeded = Object.values(DEMO_TWINS).flat().length;
    for (let waited = 0; (await directory.db.catalogTwin.count()) < seeded; waited += 100) {
      if (waited > 30_000) throw new Error('the directory did not receive the demo twins: is NATS JetStream working?');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const { plant, maintain } = await openPlant(
      { db: issuers.acme!.db, url: subgraphs.acme!.url, token: tokens.acmeAdmin!, trained: () => subgraphs.acme!.healthTrained() },
      logger,
    );

    // A viewer (analytics included: health, RUL, KPIs and maintenance) who also handles ACME's alarms.
    const engineer = (
      await issueMemberToken(issuers.acme!, 'demo', {
        subject: 'engineer',
        scopes: [...ROLES.viewer, 'alarms:write'],
        expiresAt: new Date(Date.now() + 30 * DAY),
      })
    ).token;
    // ACME's supply planner, who saves what-if scenarios (an operator: scenarios are saved with twins:write).
    const planner = (await issueMemberToken(issuers.acme!, 'demo', { subject: 'planner', role: 'operator', expiresAt: new Date(Date.now() + 30 * DAY) })).token;
    // Initech's shift operator, who records the furnace's failures and repairs.
    const initechOperator = (
      await issueMemberToken(issuers.initech!, 'demo', { subject: 'operator', role: 'operator', expiresAt: new Date(Date.now() + 30 * DAY) })
    ).token;
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

    const engineerHeaders = tokenHeaders([engineer, ...grants]);
    const initechOperatorHeaders = tokenHeaders([initechOperator]);
    // The console's demo sign-in: the demo's people, each with the tokens above.
    const demoPersonas: Persona[] = [
      { id: 'acme-engineer', name: 'ACME engineer', headers: engineerHeaders },
      { id: 'acme-planner', name: 'ACME planner', headers: tokenHeaders([planner, ...grants]) },
      ...DEMO_ORGS.map((org) => ({ id: `${org.slug}-admin`, name: `${org.name.split(' ')[0]} admin`, headers: tokenHeaders([tokens[`${org.slug}Admin`]!]) })),
      { id: 'initech-operator', name: 'Initech operator', headers: initechOperatorHeaders },
    ];
    const gatewayNats = await connectAs((await NetworkBus.open(directory.db, keySecret))!, { kind: 'gateway' }, 'twinx-demo-gateway');
    const gateway = createGateway({
      directoryUrl: directory.directory.url,
      nats: gatewayNats,
      subjectPrefix,
      logger,
      port: options.port,
      stateDir: join(options.dataDir, 'gateway'),
      demoPersonas,
    });
    await gateway.start();
    stops.unshift(() => gateway.stop());

    const names = natsNames(subjectPrefix);
    sensors = setInterval(() => {
      const at = new Date();
      const readings = plant.readings(at);
      for (const org of DEMO_ORGS) {
        jetstream(devices[org.slug]!)
          .publish(names.ingestSubject(org.slug), JSON.stringify({ readings: readings.filter((reading) => parseTwinId(reading.twinId)!.org === org.slug) }))
          .catch((error) => logger.warn({ err: error }, 'sensor reading not published'));
      }
      maintaining = maintaining.then(() => maintain(at)).catch((error) => logger.warn({ err: error }, 'maintenance not recorded'));
    }, SAMPLE_MS);

    const tokensFile = join(options.dataDir, 'tokens.json');
    const file = {
      gateway: gateway.url,
      directory: directory.directory.url,
      subjectPrefix,
      acmeEngineerHeaders: engineerHeaders,
      initechOperatorHeaders,
      adminTokens: tokens,
    };
    writeFileSync(tokensFile, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });

    return { gatewayUrl: gateway.url, consoleUrl: gateway.consoleUrl, natsUrl: natsServer.url, tokensFile, engineerHeaders, stop };
  }
}
