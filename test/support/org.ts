import { tokenHeaders } from '../../lib/tokens/headers.ts';
import { createLogger } from '../../lib/logger.ts';
import { deleteStreams, ensureMemberStreams, type NatsConnection } from '../../lib/nats.ts';
import type { Role } from '../../lib/tokens/scopes.ts';
import type { OrgAuthenticator } from '../../subgraphs/org/auth/authenticator.ts';
import type { OrgLimits } from '../../subgraphs/org/context.ts';
import type { OrgDb } from '../../subgraphs/org/db.ts';
import { issueGrant, issueMemberToken, type Issuer } from '../../subgraphs/org/grants/store.ts';
import { initOrg, startOrgSubgraph } from '../../subgraphs/org/main.ts';
import { graphql } from './graphql.ts';
import { createStore, type Disposers, natsForTest, type TestBus } from './services.ts';

export const KEY_SECRET = 'test-key-secret-of-at-least-32-characters';
const DAY = 86_400_000;

/** Headers presenting tokens the way clients do. */
export function bearer(token: string, grants: string[] = []): Record<string, string> {
  return tokenHeaders([token, ...grants]);
}

export interface TestOrg {
  org: string;
  url: string;
  /** Where its `/metrics` is served. */
  metricsUrl: string;
  db: OrgDb;
  databaseUrl: string;
  /** The network's NATS as its operator (any subject): to play a device, or to look at streams. */
  nats: NatsConnection;
  bus: TestBus;
  subjectPrefix: string;
  issuer: Issuer;
  /** The subgraph's authenticator: `sync()` puts changes made straight in the database in effect. */
  auth: OrgAuthenticator;
  /** Resolves once every event committed so far is published to NATS. */
  eventsPublished: () => Promise<void>;
  /** Resolves once the health model trainings scheduled so far have ended. */
  healthTrained: () => Promise<void>;
  /** Stops the subgraph (an organization going down). */
  stop: () => Promise<void>;
  /** An admin member token of the organization. */
  adminToken: string;
  /** Runs a GraphQL operation over HTTP, as the admin unless other headers are given. */
  request: <T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) => ReturnType<typeof graphql<T>>;
  /** Creates a twin over GraphQL (as the admin); throws on errors. */
  createTwin: (input: Record<string, unknown>) => Promise<void>;
  /** Ingests readings over GraphQL (as the admin); throws on errors. */
  ingest: (readings: Record<string, unknown>[]) => Promise<void>;
  /** A member token with a role. */
  memberToken: (role: Role, subject?: string) => Promise<string>;
  /** A grant token for a partner; the input is that of `issueGrant`. */
  grantToken: (input: Record<string, unknown>) => Promise<{ token: string; jti: string }>;
}

/**
 * Starts an organization subgraph on a free port with its own fresh database, signing key,
 * subjects, and real token authentication.
 */
export async function startOrg(
  disposers: Disposers,
  org: string,
  options: {
    limits?: Partial<OrgLimits>;
    /** Join a network's NATS instead of one of its own. */ network?: TestBus;
    /** Browser origins it allows (CORS). */ corsOrigins?: string[];
    /** The PostgreSQL server of its store (test/support/postgres-server.ts), instead of the tests' own. */ postgresUrl?: string;
    /** Seconds before an unacknowledged alarm escalates. */ alarmEscalateAfterSeconds?: number;
    /** Seconds between looks at the outbox besides the announcements of its events. */ outboxSweepSeconds?: number;
  } = {},
): Promise<TestOrg> {
  const logger = createLogger('test', process.env.LOG_LEVEL ?? 'silent');
  const store = await createStore('org', options.postgresUrl);
  disposers.add(store.drop);
  const { token: adminToken } = (await initOrg({ org, databaseUrl: store.url, keySecret: KEY_SECRET }, 'test', DAY, 'test-admin'))!;
  const bus = options.network ?? (await natsForTest());
  const { nats, subjectPrefix } = bus;
  if (!options.network) {
    disposers.add(() => nats.drain());
    disposers.add(() => deleteStreams(nats, subjectPrefix));
  }
  // What the network operator does when it adds the organization.
  await ensureMemberStreams(nats, subjectPrefix, org);
  const own = await bus.connect({ kind: 'member', org }, `twinx-test-${org}`);
  disposers.add(() => own.drain());
  const started = await startOrgSubgraph(
    {
      org,
      databaseUrl: store.url,
      keySecret: KEY_SECRET,
      subjectPrefix,
      port: 0,
      host: '127.0.0.1',
      limits: options.limits,
      poolSize: 4,
      corsOrigins: options.corsOrigins,
      alarmEscalateAfterSeconds: options.alarmEscalateAfterSeconds,
      outboxSweepSeconds: options.outboxSweepSeconds,
    },
    own,
    logger,
  );
  disposers.add(started.stop);
  const { subgraph, issuer } = started;
  const { db } = issuer;
  const stop = () => subgraph.stop();
  const expiresAt = () => new Date(Date.now() + DAY);
  const memberToken = async (role: Role, subject = `test-${role}`) => (await issueMemberToken(issuer, 'test', { subject, role, expiresAt: expiresAt() })).token;
  const request: TestOrg['request'] = (query, variables, headers = bearer(adminToken)) => graphql(subgraph.url, query, variables, headers);
  const mutate = async (mutation: string, variables: Record<string, unknown>) => {
    const response = await request(mutation, variables);
    if (response.errors) throw new Error(JSON.stringify(response.errors));
  };
  return {
    org,
    url: subgraph.url,
    metricsUrl: subgraph.metricsUrl,
    db,
    databaseUrl: store.url,
    nats,
    bus,
    subjectPrefix,
    issuer,
    adminToken,
    auth: started.auth,
    eventsPublished: () => subgraph.eventsPublished(),
    healthTrained: () => subgraph.healthTrained(),
    stop,
    request,
    createTwin: (input) => mutate(`mutation($input: TwinInput!) { ${org} { createTwin(input: $input) { id } } }`, { input }),
    ingest: (readings) => mutate(`mutation($r: [ReadingInput!]!) { ${org} { ingestTelemetry(readings: $r) { accepted } } }`, { r: readings }),
    memberToken,
    grantToken: async (input) => {
      const { token, grant } = await issueGrant(issuer, 'test', { expiresAt: expiresAt(), ...input });
      return { token, jti: grant.jti };
    },
  };
}
