import { z } from 'zod';
import { commonSettings, values, type ConfigOf } from '../lib/config.ts';

/** Configuration of `twinx gateway serve`. */
export const gatewaySettings = {
  directoryUrl: { flag: 'directory-url', env: 'TWINX_DIRECTORY_URL', schema: values.httpUrl },
  natsUrl: commonSettings.natsUrl,
  natsCreds: commonSettings.natsCreds,
  subjectPrefix: commonSettings.subjectPrefix,
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4000) },
  host: commonSettings.host,
  corsOrigins: commonSettings.corsOrigins,
  // Apart from the public port: metrics tell business (which partners read what, and how often).
  metricsListen: { flag: 'metrics-listen', env: 'TWINX_METRICS_LISTEN', schema: values.listen('127.0.0.1:9400') },
  subgraphTimeoutMs: { flag: 'subgraph-timeout-ms', env: 'TWINX_SUBGRAPH_TIMEOUT_MS', schema: values.positiveInt(5000) },
  dedupe: { flag: 'dedupe', env: 'TWINX_GATEWAY_DEDUPE', schema: values.flag.default(true) },
  maxDepth: commonSettings.maxDepth,
  maxCost: commonSettings.maxCost,
  rateLimit: { flag: 'rate-limit', env: 'TWINX_RATE_LIMIT', schema: values.positiveInt(50) },
  rateBurst: { flag: 'rate-burst', env: 'TWINX_RATE_BURST', schema: values.positiveInt(200) },
  maxBufferedBytes: { flag: 'max-buffered-bytes', env: 'TWINX_MAX_BUFFERED_BYTES', schema: values.positiveInt(1024 * 1024) },
  // Members' keys kept between runs: one directory per gateway.
  stateDir: { flag: 'state-dir', env: 'TWINX_GATEWAY_STATE_DIR', schema: z.string().min(1).default('.twinx/gateway') },
  logLevel: commonSettings.logLevel,
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;
