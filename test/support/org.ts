import { createLogger } from '../../lib/logger.ts';
import type { NatsConnection } from '../../lib/nats.ts';
import { SCOPES, type Principal } from '../../subgraphs/org/access.ts';
import type { OrgLimits } from '../../subgraphs/org/context.ts';
import { createOrgDb, type OrgDb } from '../../subgraphs/org/db.ts';
import { createOrgSubgraph } from '../../subgraphs/org/server.ts';
import { graphql } from './graphql.ts';
import { deleteStreams } from '../../lib/nats.ts';
import { createStore, type Disposers, natsForTest } from './services.ts';

export const everything: Principal = { subject: 'test', scopes: new Set(SCOPES) };

export interface TestOrg {
  org: string;
  url: string;
  db: OrgDb;
  databaseUrl: string;
  nats: NatsConnection;
  subjectPrefix: string;
  /** Runs a GraphQL operation against the subgraph over HTTP. */
  request: <T = any>(query: string, variables?: Record<string, unknown>) => ReturnType<typeof graphql<T>>;
}

/** Starts an organization subgraph on a free port with its own fresh database and subjects. */
export async function startOrg(disposers: Disposers, org: string, options: { limits?: Partial<OrgLimits> } = {}): Promise<TestOrg> {
  const store = await createStore('org');
  disposers.add(store.drop);
  const db = createOrgDb({ databaseUrl: store.url, poolSize: 4 });
  disposers.add(() => db.$disconnect());
  const { nats, subjectPrefix } = await natsForTest();
  disposers.add(() => nats.drain());
  disposers.add(() => deleteStreams(nats, subjectPrefix));
  const subgraph = createOrgSubgraph({
    org,
    db,
    nats,
    subjectPrefix,
    authenticate: async () => everything,
    devicePrincipal: everything,
    logger: createLogger('test', process.env.LOG_LEVEL ?? 'silent'),
    limits: options.limits,
  });
  await subgraph.start();
  disposers.add(() => subgraph.stop());
  return { org, url: subgraph.url, db, databaseUrl: store.url, nats, subjectPrefix, request: (query, variables) => graphql(subgraph.url, query, variables) };
}
