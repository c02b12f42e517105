import { createGateway, type Gateway } from '../../gateway/server.ts';
import { createLogger } from '../../lib/logger.ts';
import { deleteStreams, type NatsConnection } from '../../lib/nats.ts';
import { createDirectoryDb, type DirectoryDb } from '../../subgraphs/directory/db.ts';
import { initOperator, startDirectory } from '../../subgraphs/directory/main.ts';
import type { Directory } from '../../subgraphs/directory/server.ts';
import { graphql } from './graphql.ts';
import { bearer, KEY_SECRET, startOrg, type TestOrg } from './org.ts';
import { createStore, type Disposers, eventually, natsForTest } from './services.ts';

export interface TestNetwork {
  nats: NatsConnection;
  subjectPrefix: string;
  directory: Directory;
  directoryDb: DirectoryDb;
  gateway: Gateway;
  orgs: Record<string, TestOrg>;
  /** The network operator's administrator token. */
  operatorToken: string;
  /** Registers and activates an organization (as the network operator, through the directory). */
  join: (org: TestOrg) => Promise<void>;
  /** Starts an organization subgraph on the network's NATS subjects. */
  startOrg: (slug: string) => Promise<TestOrg>;
  /** A GraphQL request to the gateway. */
  query: <T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) => ReturnType<typeof graphql<T>>;
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
  options: { /** A NATS server of the test's own. */ natsUrl?: string } = {},
): Promise<TestNetwork> {
  const logger = createLogger('test', process.env.LOG_LEVEL ?? 'silent');
  const { nats, subjectPrefix } = await natsForTest(options.natsUrl);
  disposers.add(() => nats.drain());
  disposers.add(() => deleteStreams(nats, subjectPrefix));

  const directoryStore = await createStore('directory');
  disposers.add(directoryStore.drop);
  const operatorStore = await createStore('org');
  disposers.add(operatorStore.drop);
  const stores = { databaseUrl: directoryStore.url, operatorDatabaseUrl: operatorStore.url, keySecret: KEY_SECRET };
  const { token: operatorToken } = (await initOperator(stores, 'test', 86_400_000))!;
  const { directory, stop } = await startDirectory({ ...stores, subjectPrefix, port: 0, host: '127.0.0.1' }, nats, logger);
  disposers.add(stop);
  const directoryDb = createDirectoryDb({ databaseUrl: directoryStore.url, poolSize: 2 });
  disposers.add(() => directoryDb.$disconnect());

  const network = { nats, subjectPrefix };
  const orgs: Record<string, TestOrg> = {};
  const admin = (query: string, variables: Record<string, unknown>) => graphql(directory.url, query, variables, bearer(operatorToken));
  const join = async (org: TestOrg) => {
    const base = org.url.replace('/graphql', '');
    const added = await admin(`mutation($input: OrganizationInput!) { network { addOrganization(input: $input) { status } } }`, {
      input: { slug: org.org, name: org.org, subgraphUrl: org.url, jwksUrl: `${base}/.well-known/jwks.json` },
    });
    if (added.errors) throw new Error(JSON.stringify(added.errors));
    const activated = await admin(`mutation($slug: ID!) { network { activateOrganization(slug: $slug) { status } } }`, { slug: org.org });
    if (activated.errors) throw new Error(JSON.stringify(activated.errors));
  };
  for (const slug of slugs) {
    orgs[slug] = await startOrg(disposers, slug, { network });
    await join(orgs[slug]!);
  }

  const gateway = createGateway({ directoryUrl: directory.url, nats, subjectPrefix, logger, pollMs: 60_000, subgraphTimeoutMs: 2000 });
  await gateway.start();
  disposers.add(() => gateway.stop());

  return {
    nats,
    subjectPrefix,
    directory,
    directoryDb,
    gateway,
    orgs,
    operatorToken,
    join,
    startOrg: (slug) => startOrg(disposers, slug, { network }),
    query: (query, variables, headers = {}) => graphql(gateway.url, query, variables, headers),
    catalogHas: async (ids) => {
      await eventually(async () => {
        const rows = await directoryDb.catalogTwin.findMany({ select: { id: true }, orderBy: { id: 'asc' } });
        if (JSON.stringify(rows.map((row) => row.id)) !== JSON.stringify([...ids].sort())) throw new Error(`catalog: ${rows.map((row) => row.id).join(', ')}`);
      });
    },
  };
}
