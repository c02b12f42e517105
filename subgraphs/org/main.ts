import { migrateDeploy } from '../../lib/db/migrate.ts';
import { createLogger } from '../../lib/logger.ts';
import { connectNats } from '../../lib/nats.ts';
import { runUntilSignal } from '../../lib/run.ts';
import { SCOPES, type Principal } from './access.ts';
import type { OrgConfig } from './config.ts';
import { createOrgDb } from './db.ts';
import { createOrgSubgraph } from './server.ts';

/**
 * Until organizations issue tokens, every caller of a served organization acts as the
 * organization itself.
 */
const organizationItself: Principal = { subject: 'organization', scopes: new Set(SCOPES) };

/** Runs an organization subgraph from validated configuration until a signal stops it. */
export async function serveOrg(config: OrgConfig): Promise<void> {
  const logger = createLogger('org', config.logLevel);
  if (config.migrate) {
    const { applied } = await migrateDeploy({ kind: 'org', databaseUrl: config.databaseUrl });
    logger.info({ applied }, 'migrations applied');
  }
  const db = createOrgDb({ databaseUrl: config.databaseUrl });
  const nats = await connectNats(config.natsUrl, `twinx-org-${config.org}`);
  const subgraph = createOrgSubgraph({
    org: config.org,
    db,
    nats,
    subjectPrefix: config.subjectPrefix,
    authenticate: async () => organizationItself,
    devicePrincipal: organizationItself,
    logger,
    port: config.port,
    host: config.host,
    limits: { maxIngestBatch: config.maxIngestBatch },
  });
  await subgraph.start();
  await runUntilSignal(logger, [() => subgraph.stop(), () => nats.drain(), () => db.$disconnect()]);
}
