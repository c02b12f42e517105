import { migrateDeploy } from '../../lib/db/migrate.ts';
import { openStore } from '../../lib/db/store.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { connectNats, type NatsConnection } from '../../lib/nats.ts';
import { runUntilSignal } from '../../lib/run.ts';
import { OrgAuthenticator } from './auth/authenticator.ts';
import { KeyRing, listKeys } from './auth/keys.ts';
import type { OrgConfig, OrgStoreConfig } from './config.ts';
import { createOrgDb, type OrgDb } from './db.ts';
import type { Issuer } from './grants/store.ts';
import { createOrgSubgraph, type OrgSubgraph } from './server.ts';

/** Runs a command against an organization's store, then closes it. */
export async function withOrgDb<T>(config: { databaseUrl: string }, run: (db: OrgDb) => Promise<T>): Promise<T> {
  const db = createOrgDb({ databaseUrl: config.databaseUrl, poolSize: 2 });
  try {
    return await run(db);
  } finally {
    await db.$disconnect();
  }
}

/** Runs a command that signs tokens: the store and the organization's keys. */
export function withOrgStore<T>(config: OrgStoreConfig, run: (store: Issuer) => Promise<T>): Promise<T> {
  return withOrgDb(config, (db) => run({ db, keys: new KeyRing(db, config.keySecret), org: config.org }));
}

/** A running organization subgraph with the store it opened, closed in order by `stop()`. */
export async function startOrgSubgraph(
  config: Pick<OrgConfig, 'org' | 'databaseUrl' | 'keySecret' | 'subjectPrefix' | 'port' | 'host' | 'maxIngestBatch'>,
  nats: NatsConnection,
  logger: Logger,
): Promise<{ subgraph: OrgSubgraph; issuer: Issuer; stop: () => Promise<void> }> {
  const store = openStore(config.databaseUrl);
  const db = createOrgDb({ store });
  if (!(await listKeys(db)).some((key) => key.signing)) {
    await db.$disconnect();
    await store.close();
    throw new Error(`organization ${config.org} has no signing key: run \`twinx org init\` first`);
  }
  const keys = new KeyRing(db, config.keySecret);
  const authenticator = new OrgAuthenticator({ org: config.org, db, store, keys, logger });
  await authenticator.start();
  const subgraph = createOrgSubgraph({
    org: config.org,
    db,
    nats,
    subjectPrefix: config.subjectPrefix,
    auth: authenticator,
    keys,
    logger,
    port: config.port,
    host: config.host,
    limits: { maxIngestBatch: config.maxIngestBatch },
  });
  await subgraph.start();
  return {
    subgraph,
    issuer: { db, keys, org: config.org },
    stop: async () => {
      await subgraph.stop();
      await authenticator.stop();
      await db.$disconnect();
      await store.close();
    },
  };
}

/** Runs an organization subgraph from validated configuration until a signal stops it. */
export async function serveOrg(config: OrgConfig): Promise<void> {
  const logger = createLogger('org', config.logLevel);
  if (config.migrate) {
    const { applied } = await migrateDeploy({ kind: 'org', databaseUrl: config.databaseUrl });
    logger.info({ applied }, 'migrations applied');
  }
  const nats = await connectNats(config.natsUrl, `twinx-org-${config.org}`);
  const { stop } = await startOrgSubgraph(config, nats, logger);
  await runUntilSignal(logger, [stop, () => nats.drain()]);
}
