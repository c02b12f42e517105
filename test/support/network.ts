import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/server.ts';
import { createLogger } from '../../lib/logger.ts';
import { connectNats, deleteStreams, type NatsConnection, type StreamLimits } from '../../lib/nats.ts';
import type { DirectoryDb } from '../../subgraphs/directory/db.ts';
import { NetworkBus } from '../../subgraphs/directory/bus.ts';
import { initNetwork, startDirectory } from '../../subgraphs/directory/main.ts';
import type { Directory } from '../../subgraphs/directory/server.ts';
import { graphql } from './graphql.ts';
import type { OwnNatsServer } from './nats-server.ts';
import { bearer, KEY_SECRET, startOrg, type TestOrg } from './org.ts';
import { createStore, type Disposers, eventually, natsForTest, type TestBus } from './services.ts';

export interface TestNetwork {
  /** The network's NATS as its operator (any subject). */
  nats: NatsConnection;
  bus: TestBus;
  subjectPrefix: string;
  directory: Directory;
  directoryDb: DirectoryDb;
  /** The directory's store, for the CLI. */
  directoryDatabaseUrl: string;
  gateway: Gateway;
  orgs: Record<string, TestOrg>;
  /** A GraphQL request to the directory as the network operator's administrator. */
  admin: <T = any>(query: string, variables?: Record<string, unknown>) => ReturnType<typeof graphql<T>>;
  /** Registers and activates an organization (as the network operator, through the directory). */
  join: (org: Pick<TestOrg, 'org' | 'url'>) => Promise<void>;
  /** Starts an organization subgraph on the network's NATS subjects. */
  startOrg: (slug: string) => Promise<TestOrg>;
  /** Options of a gateway on this network, for a test that starts and stops one itself. */
  gatewayOptions: GatewayOptions;
  /** Starts another gateway on this network, stopped with the others. */
  startGateway: (extra?: Partial<GatewayOptions>) => Promise<Gateway>;
  /** A GraphQL request to the gateway. */
  query: <T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) => ReturnType<typeof graphql<T>>;
  /** Starts another replica of the directory on the same stores and NATS, stopped with the others. */
  startDirectoryReplica: () => Promise<Directory>;
  /** Waits until the directory's catalog holds exactly these twin ids. */
  catalogHas: (ids: string[]) => Promise<void>;
}

/**
 * A whole network in this process, on real HTTP servers, real Postgres and real NATS: the
 * directory (with its operator's store), the given organizations (registered and active), and
 * a gateway composed over them.
 */
export async function startNetwork(
  disposers: Disposers,
  slugs: string[],
  options: {
    /** A NATS server of the test's own. */ nats?: OwnNatsServer;
    /** Options of the network's first gateway. */ gateway?: Partial<GatewayOptions>;
    /** Sizes of the network's streams, as the operator configures them. */ streamLimits?: Partial<StreamLimits>;
    /** Browser origins every service allows (CORS). */ corsOrigins?: string[];
    /** The PostgreSQL server of every store (test/support/postgres-server.ts), instead of the tests' own. */ postgresUrl?: string;
    /** Organizations' names, by slug, as the network registers them (default: the slug). */ names?: Record<string, string>;
  } = {},
): Promise<TestNetwork> {
  const logger = createLogger('test', process.env.LOG_LEVEL ?? 'silent');
  const own = await natsForTest(options.nats);
  const { nats, subjectPrefix } = own;
  disposers.add(() => nats.drain());
  disposers.add(() => deleteStreams(nats, subjectPrefix));

  const directoryStore = await createStore('directory', options.postgresUrl);
  disposers.add(directoryStore.drop);
  const operatorStore = await createStore('org', options.postgresUrl);
  disposers.add(operatorStore.drop);
  const stores = { databaseUrl: directoryStore.url, operatorDatabaseUrl: operatorStore.url, keySecret: KEY_SECRET };
  // The network's NATS keys are the test account's: the directory's pushes reach the same account.
  const { admin: operatorAdmin } = await initNetwork(stores, 'test', 86_400_000, own.seeds);
  const operatorToken = operatorAdmin!.token;
  const directoryConfig = { ...stores, ...options.streamLimits, natsUrl: own.url, subjectPrefix, port: 0, host: '127.0.0.1', corsOrigins: options.corsOrigins };
  const { directory, db: directoryDb, stop } = await startDirectory(directoryConfig, logger, nats);
  disposers.add(stop);
  // Credentials as the network operator issues them (`twinx network add`, `network credentials`):
  // recorded, so that suspending a member revokes its users.
  const network = (await NetworkBus.open(directoryDb, KEY_SECRET))!;
  const bus: TestBus = {
    ...own,
    connect: async (role, name = 'twinx-test') => connectNats(own.url, name, (await network.credentials(role, subjectPrefix)).creds),
  };

  const orgs: Record<string, TestOrg> = {};
  const admin: TestNetwork['admin'] = (query, variables) => graphql(directory.url, query, variables, bearer(operatorToken));
  const join = async (org: Pick<TestOrg, 'org' | 'url'>) => {
    const base = org.url.replace('/graphql', '');
    const added = await admin(`mutation($input: OrganizationInput!) { network { addOrganization(input: $input) { status } } }`, {
      input: { slug: org.org, name: options.names?.[org.org] ?? org.org, subgraphUrl: org.url, jwksUrl: `${base}/.well-known/jwks.json` },
    });
    if (added.errors) throw new Error(JSON.stringify(added.errors));
    const activated = await admin(`mutation($slug: ID!) { network { activateOrganization(slug: $slug) { status } } }`, { slug: org.org });
    if (activated.errors) throw new Error(JSON.stringify(activated.errors));
  };
  for (const slug of slugs) {
    orgs[slug] = await startOrg(disposers, slug, { network: bus, corsOrigins: options.corsOrigins, postgresUrl: options.postgresUrl });
    await join(orgs[slug]!);
  }

  const gatewayNats = await bus.connect({ kind: 'gateway' }, 'twinx-test-gateway');
  disposers.add(() => gatewayNats.drain());
  const gatewayOptions: GatewayOptions = { directoryUrl: directory.url, nats: gatewayNats, subjectPrefix, logger, corsOrigins: options.corsOrigins };
  const startGateway = async (extra: Partial<GatewayOptions> = {}) => {
    const gateway = createGateway({ ...gatewayOptions, ...extra });
    await gateway.start();
    disposers.add(() => gateway.stop());
    return gateway;
  };
  const gateway = await startGateway({ pollMs: 60_000, subgraphTimeoutMs: 2000, ...options.gateway });

  return {
    nats,
    bus,
    subjectPrefix,
    directory,
    directoryDb,
    directoryDatabaseUrl: directoryStore.url,
    gateway,
    orgs,
    admin,
    join,
    startOrg: (slug) => startOrg(disposers, slug, { network: bus }),
    gatewayOptions,
    startGateway,
    startDirectoryReplica: async () => {
      const replica = await startDirectory(directoryConfig, logger, nats);
      disposers.add(replica.stop);
      return replica.directory;
    },
    query: (query, variables, headers = {}) => graphql(gateway.url, query, variables, headers),
    catalogHas: async (ids) => {
      await eventually(async () => {
        const rows = await directoryDb.catalogTwin.findMany({ select: { id: true }, orderBy: { id: 'asc' } });
        if (JSON.stringify(rows.map((row) => row.id)) !== JSON.stringify([...ids].sort())) throw new Error(`catalog: ${rows.map((row) => row.id).join(', ')}`);
      });
    },
  };
}
