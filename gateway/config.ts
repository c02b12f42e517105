import { z } from 'zod';
import { values, type ConfigOf } from '../lib/config.ts';

/** Configuration of `twinx gateway serve`. */
export const gatewaySettings = {
  directoryUrl: { flag: 'directory-url', env: 'TWINX_DIRECTORY_URL', schema: z.url({ protocol: /^https?$/ }) },
  natsUrl: { flag: 'nats-url', env: 'NATS_URL', schema: values.natsUrl.default('nats://127.0.0.1:4222') },
  subjectPrefix: { flag: 'subject-prefix', env: 'TWINX_SUBJECT_PREFIX', schema: values.subjectPrefix },
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4000) },
  host: { flag: 'host', env: 'TWINX_HOST', schema: z.string().min(1).default('127.0.0.1') },
  subgraphTimeoutMs: { flag: 'subgraph-timeout-ms', env: 'TWINX_SUBGRAPH_TIMEOUT_MS', schema: values.positiveInt(5000) },
  maxDepth: { flag: 'max-depth', env: 'TWINX_MAX_DEPTH', schema: values.positiveInt(12) },
  maxCost: { flag: 'max-cost', env: 'TWINX_MAX_COST', schema: values.positiveInt(20_000) },
  maxBufferedBytes: { flag: 'max-buffered-bytes', env: 'TWINX_MAX_BUFFERED_BYTES', schema: values.positiveInt(1024 * 1024) },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', schema: values.logLevel },
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;
