import { readFileSync } from 'node:fs';
import { createLogger } from '../lib/logger.ts';
import { connectNats } from '../lib/nats.ts';
import { runUntilSignal } from '../lib/run.ts';
import type { GatewayConfig } from './config.ts';
import { createGateway } from './server.ts';

/** Runs a gateway from validated configuration until a signal stops it. */
export async function serveGateway(config: GatewayConfig): Promise<void> {
  const logger = createLogger('gateway', config.logLevel);
  const nats = await connectNats(config.natsUrl, 'twinx-gateway', config.natsCreds && readFileSync(config.natsCreds, 'utf8'));
  const gateway = createGateway({
    directoryUrl: config.directoryUrl,
    nats,
    subjectPrefix: config.subjectPrefix,
    logger,
    port: config.port,
    host: config.host,
    corsOrigins: config.corsOrigins,
    metricsListen: config.metricsListen,
    subgraphTimeoutMs: config.subgraphTimeoutMs,
    limits: { maxDepth: config.maxDepth, maxCost: config.maxCost },
    maxBufferedBytes: config.maxBufferedBytes,
    rateLimit: { perSecond: config.rateLimit, burst: config.rateBurst },
    stateDir: config.stateDir,
  });
  await gateway.start();
  await runUntilSignal(logger, [() => gateway.stop(), () => nats.drain()]);
}
