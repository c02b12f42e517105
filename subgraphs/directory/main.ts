import { migrateDeploy } from '../../lib/db/migrate.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { connectNats, type NatsConnection } from '../../lib/nats.ts';
import { runUntilSignal, startOrStop } from '../../lib/run.ts';
import { initOrg, openOrgAuth } from '../org/main.ts';
import type { DirectoryConfig } from './config.ts';
import { createDirectoryDb, type DirectoryDb } from './db.ts';
import { createDirectory, OPERATOR, type Directory } from './server.ts';

/** Applies the migrations of the directory store and of the operator's store. */
export async function migrateNetworkStores(config: { databaseUrl: string; operatorDatabaseUrl: string }): Promise<void> {
  await migrateDeploy({ kind: 'directory', databaseUrl: config.databaseUrl });
  await migrateDeploy({ kind: 'org', databaseUrl: config.operatorDatabaseUrl });
}

/**
 * Sets up the network operator: its first signing key and a first administrator token.
 * Returns null when it is set up already.
 */
export function initOperator(config: { operatorDatabaseUrl: string; keySecret: string }, issuedBy: string, lifetimeMs: number) {
  return initOrg({ org: OPERATOR, databaseUrl: config.operatorDatabaseUrl, keySecret: config.keySecret }, issuedBy, lifetimeMs, 'operator');
}

/** A running directory with the stores it opened, closed in order by `stop()`. */
export async function startDirectory(
  config: Pick<DirectoryConfig, 'databaseUrl' | 'operatorDatabaseUrl' | 'keySecret' | 'subjectPrefix' | 'port' | 'host'>,
  nats: NatsConnection,
  logger: Logger,
): Promise<{ directory: Directory; db: DirectoryDb; stop: () => Promise<void> }> {
  const operator = await openOrgAuth(
    { org: OPERATOR, databaseUrl: config.operatorDatabaseUrl, keySecret: config.keySecret, poolSize: 2 },
    logger,
    'the network operator has no signing key: run `twinx network init` first',
  );
  const db = createDirectoryDb({ databaseUrl: config.databaseUrl });
  const directory = createDirectory({
    db,
    nats,
    subjectPrefix: config.subjectPrefix,
    operatorAuth: operator.auth,
    operatorKeys: operator.keys,
    logger,
    port: config.port,
    host: config.host,
  });
  const stop = async () => {
    await directory.stop();
    await operator.close();
    await db.$disconnect();
  };
  await startOrStop(() => directory.start(), stop, logger);
  return { directory, db, stop };
}

/** Runs the directory from validated configuration until a signal stops it. */
export async function serveDirectory(config: DirectoryConfig): Promise<void> {
  const logger = createLogger('directory', config.logLevel);
  if (config.migrate) await migrateNetworkStores(config);
  const nats = await connectNats(config.natsUrl, 'twinx-directory');
  const { stop } = await startDirectory(config, nats, logger);
  await runUntilSignal(logger, [stop, () => nats.drain()]);
}
