import { readFileSync } from 'node:fs';
import { createLogger } from '../lib/logger.ts';
import { closeNats, connectNats } from '../lib/nats.ts';
import { runUntilSignal, startOrStop } from '../lib/run.ts';
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
    dedupe: config.dedupe,
    limits: { maxDepth: config.maxDepth, maxCost: config.maxCost },
    maxBufferedBytes: config.maxBufferedBytes,
    rateLimit: { perSecond: config.rateLimit, burst: config.rateBurst },
    stateDir: config.stateDir,
  });
  // A gateway that cannot start closes its NATS connection too, so that the process ends and its supervisor starts it again.
  await startOrStop(
    () => gateway.start(),
    () => gateway.stop().finally(() => nats.close()),
    logger,
  );
  await runUntilSignal(logger, [() => gateway.stop(), () => closeNats(nats, logger)]);
}
