import { readFileSync } from 'node:fs';
import { checkMigrated, migrateDeploy } from '../../lib/db/migrate.ts';
import { openStore } from '../../lib/db/store.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { closeNats, connectNats, type NatsConnection } from '../../lib/nats.ts';
import { runUntilSignal, startOrStop } from '../../lib/run.ts';
import { OrgAuthenticator } from './auth/authenticator.ts';
import { createSigningKey, KeyRing, listKeys, withOrgStore } from './auth/keys.ts';
import type { OrgConfig, OrgStoreConfig } from './config.ts';
import type { LimitSettings } from '../../lib/graphql/limits.ts';
import type { HealthThresholds } from './analytics/health.ts';
import type { OrgLimits } from './context.ts';
import { createOrgDb, type OrgDb } from './db.ts';
import { issueMemberToken, type Issuer } from './grants/store.ts';
import { createOrgSubgraph, type OrgSubgraph } from './server.ts';

/**
 * Sets up an organization's keys: its first signing key and a first administrator token.
 * Returns null when it is set up already (idempotent, so that deployments can run it before
 * every start).
 */
export function initOrg(config: OrgStoreConfig, issuedBy: string, lifetimeMs: number, subject = 'admin') {
  return withOrgStore(config, async (store) => {
    if ((await listKeys(store.db)).length > 0) return null;
    const kid = await createSigningKey(store.db, config.keySecret);
    const admin = await issueMemberToken(store, issuedBy, { subject, role: 'admin', expiresAt: new Date(Date.now() + lifetimeMs) });
    return { kid, token: admin.token, expiresAt: admin.expiresAt };
  });
}

/**
 * Opens an organization's store and starts verifying its tokens, once the store holds a signing
 * key (else throws `noSigningKey`). Closes what it opened when a step fails; `close()` after use.
 */
export async function openOrgAuth(
  config: { org: string; databaseUrl: string; keySecret: string; poolSize?: number },
  logger: Logger,
  noSigningKey: string,
): Promise<{ db: OrgDb; keys: KeyRing; auth: OrgAuthenticator; close: () => Promise<void> }> {
  const store = openStore(config.databaseUrl, { poolSize: config.poolSize });
  const db = createOrgDb({ store });
  const closeStore = async () => {
    await db.$disconnect();
    await store.close();
  };
  return startOrStop(
    async () => {
      if (!(await listKeys(db)).some((key) => key.signing)) throw new Error(noSigningKey);
      const keys = new KeyRing(db, config.keySecret);
      await keys.checkKeySecret();
      const auth = new OrgAuthenticator({ org: config.org, db, store, keys, logger });
      await auth.start();
      const close = async () => {
        await auth.stop();
        await closeStore();
      };
      return { db, keys, auth, close };
    },
    closeStore,
    logger,
  );
}

/** A running organization subgraph with the store it opened, closed in order by `stop()`. */
export async function startOrgSubgraph(
  config: Pick<OrgConfig, 'org' | 'databaseUrl' | 'keySecret' | 'subjectPrefix' | 'port' | 'host'> &
    Partial<Pick<OrgConfig, 'corsOrigins' | 'metricsListen' | 'analytics' | 'alarmEscalateAfterSeconds'>> & {
      limits?: Partial<OrgLimits>;
      queryLimits?: LimitSettings;
      healthThresholds?: HealthThresholds;
      poolSize?: number;
      outboxSweepSeconds?: number;
    },
  nats: NatsConnection,
  logger: Logger,
): Promise<{ subgraph: OrgSubgraph; issuer: Issuer; auth: OrgAuthenticator; stop: () => Promise<void> }> {
  const { db, keys, auth, close } = await openOrgAuth(config, logger, `organization ${config.org} has no signing key: run \`twinx org init\` first`);
  const subgraph = createOrgSubgraph({
    org: config.org,
    db,
    nats,
    subjectPrefix: config.subjectPrefix,
    auth,
    keys,
    logger,
    port: config.port,
    host: config.host,
    corsOrigins: config.corsOrigins,
    metricsListen: config.metricsListen,
    limits: config.limits,
    queryLimits: config.queryLimits,
    healthThresholds: config.healthThresholds,
    analytics: config.analytics,
    alarmEscalateAfterSeconds: config.alarmEscalateAfterSeconds,
    outboxSweepSeconds: config.outboxSweepSeconds,
  });
  const stop = async () => {
    await subgraph.stop();
    await close();
  };
  await startOrStop(() => subgraph.start(), stop, logger);
  return { subgraph, issuer: { db, keys, org: config.org }, auth, stop };
}

/** Runs an organization subgraph from validated configuration until a signal stops it. */
export async function serveOrg(config: OrgConfig): Promise<void> {
  const logger = createLogger('org', config.logLevel);
  if (config.migrate) {
    const { applied } = await migrateDeploy({ kind: 'org', databaseUrl: config.databaseUrl });
    logger.info({ applied }, 'migrations applied');
  } else await checkMigrated({ kind: 'org', databaseUrl: config.databaseUrl });
  const nats = await connectNats(config.natsUrl, `twinx-org-${config.org}`, config.natsCreds && readFileSync(config.natsCreds, 'utf8'));
  const { stop } = await startOrgSubgraph(
    {
      ...config,
      limits: { maxIngestBatch: config.maxIngestBatch },
      queryLimits: { maxDepth: config.maxDepth, maxCost: config.maxCost },
      healthThresholds: { healthAlarmBelow: config.healthAlarmBelow, rulHorizonHours: config.rulHorizonHours },
    },
    nats,
    logger,
  );
  await runUntilSignal(logger, [stop, () => closeNats(nats, logger)]);
}
