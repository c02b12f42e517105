import type { BusSeeds } from '../../lib/bus/credentials.ts';
import { checkMigrated, migrateDeploy } from '../../lib/db/migrate.ts';
import { openStore } from '../../lib/db/store.ts';
import { OPERATOR } from '../../lib/ids.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { closeNats, connectNats, type NatsConnection, type StreamLimits } from '../../lib/nats.ts';
import { runUntilSignal, startOrStop } from '../../lib/run.ts';
import { initOrg, openOrgAuth } from '../org/main.ts';
import { NetworkBus } from './bus.ts';
import type { DirectoryConfig } from './config.ts';
import { createDirectoryDb, withDirectoryDb, type DirectoryDb } from './db.ts';
import { createDirectory, type Directory } from './server.ts';

/** Applies the migrations of the directory store and of the operator's store. */
export async function migrateNetworkStores(config: { databaseUrl: string; operatorDatabaseUrl: string }): Promise<void> {
  await migrateDeploy({ kind: 'directory', databaseUrl: config.databaseUrl });
  await migrateDeploy({ kind: 'org', databaseUrl: config.operatorDatabaseUrl });
}

/**
 * Sets up the network operator: its first signing key and a first administrator token (null
 * when it is set up already), and the network's NATS keys (`seeds` given: those of an existing
 * NATS operator). Returns what the NATS server must be configured with.
 */
export async function initNetwork(
  config: { databaseUrl: string; operatorDatabaseUrl: string; keySecret: string },
  issuedBy: string,
  lifetimeMs: number,
  seeds?: Partial<BusSeeds>,
) {
  const admin = await initOrg({ org: OPERATOR, databaseUrl: config.operatorDatabaseUrl, keySecret: config.keySecret }, issuedBy, lifetimeMs, 'operator');
  return withDirectoryDb(config, async (db) => {
    const bus = await NetworkBus.init(db, config.keySecret, seeds);
    return { admin, natsServerConfig: (jwtDir: string) => bus.serverConfig(jwtDir) };
  });
}

/**
 * A running directory with the stores it opened, closed in order by `stop()`. Without a NATS
 * connection given, it connects as the network operator's service with credentials it mints
 * from the network's NATS keys (none if the network has none).
 */
export async function startDirectory(
  config: Pick<DirectoryConfig, 'databaseUrl' | 'operatorDatabaseUrl' | 'keySecret' | 'natsUrl' | 'subjectPrefix' | 'port' | 'host'> &
    Partial<Pick<DirectoryConfig, 'corsOrigins' | 'metricsListen' | 'maxDepth' | 'maxCost'>> &
    Partial<StreamLimits>,
  logger: Logger,
  nats?: NatsConnection,
): Promise<{ directory: Directory; db: DirectoryDb; stop: () => Promise<void> }> {
  const operator = await openOrgAuth(
    { org: OPERATOR, databaseUrl: config.operatorDatabaseUrl, keySecret: config.keySecret, poolSize: 2 },
    logger,
    'the network operator has no signing key: run `twinx network init` first',
  );
  const store = openStore(config.databaseUrl);
  const db = createDirectoryDb({ store });
  let connection: NatsConnection | undefined;
  let directory: Directory | undefined;
  const stop = async () => {
    await directory?.stop();
    if (connection !== nats && connection) await closeNats(connection, logger);
    await operator.close();
    await db.$disconnect();
    await store.close();
  };
  return startOrStop(
    async () => {
      const network = await NetworkBus.open(db, config.keySecret);
      const creds = network ? (await network.credentials({ kind: 'operator' }, config.subjectPrefix)).creds : undefined;
      connection = nats ?? (await connectNats(config.natsUrl, 'twinx-directory', creds));
      directory = createDirectory({
        db,
        store,
        nats: connection,
        subjectPrefix: config.subjectPrefix,
        streamLimits: { eventsMaxBytes: config.eventsMaxBytes, ingestMaxBytes: config.ingestMaxBytes, ingestMaxMessageBytes: config.ingestMaxMessageBytes },
        bus: network ? { network, natsUrl: config.natsUrl } : undefined,
        operatorAuth: operator.auth,
        operatorKeys: operator.keys,
        logger,
        port: config.port,
        host: config.host,
        corsOrigins: config.corsOrigins,
        metricsListen: config.metricsListen,
        queryLimits: { maxDepth: config.maxDepth, maxCost: config.maxCost },
      });
      await directory.start();
      return { directory, db, stop };
    },
    stop,
    logger,
  );
}

/** Runs the directory from validated configuration until a signal stops it. */
export async function serveDirectory(config: DirectoryConfig): Promise<void> {
  const logger = createLogger('directory', config.logLevel);
  if (config.migrate) await migrateNetworkStores(config);
  else {
    await checkMigrated({ kind: 'directory', databaseUrl: config.databaseUrl });
    await checkMigrated({ kind: 'org', databaseUrl: config.operatorDatabaseUrl }, '--operator-database-url');
  }
  const { stop } = await startDirectory(config, logger);
  await runUntilSignal(logger, [stop]);
}
