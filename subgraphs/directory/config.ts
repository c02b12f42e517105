import { z } from 'zod';
import { commonSettings, values, type ConfigOf } from '../../lib/config.ts';
import { orgStoreSettings } from '../org/config.ts';

/** The directory's own store. */
export const directoryDbSettings = {
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', schema: values.storeLocation },
};

/** ... the network operator's (keys and administrator tokens), and the secret of its keys. */
export const operatorSettings = {
  ...directoryDbSettings,
  operatorDatabaseUrl: { flag: 'operator-database-url', env: 'TWINX_OPERATOR_DATABASE_URL', schema: values.storeLocation },
  keySecret: orgStoreSettings.keySecret,
};

const bytes = z.coerce.number().int().min(1).optional();

/** Configuration of `twinx directory serve`. */
export const directorySettings = {
  ...operatorSettings,
  natsUrl: commonSettings.natsUrl,
  subjectPrefix: commonSettings.subjectPrefix,
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4100) },
  // Sizes of the network's streams; absent, lib/nats.ts's defaults (DEFAULT_STREAM_LIMITS).
  eventsMaxBytes: { flag: 'events-max-bytes', env: 'TWINX_EVENTS_MAX_BYTES', schema: bytes },
  ingestMaxBytes: { flag: 'ingest-max-bytes', env: 'TWINX_INGEST_MAX_BYTES', schema: bytes },
  ingestMaxMessageBytes: { flag: 'ingest-max-message-bytes', env: 'TWINX_INGEST_MAX_MESSAGE_BYTES', schema: bytes },
  host: commonSettings.host,
  corsOrigins: commonSettings.corsOrigins,
  // Apart from the public port: metrics tell business (which partners read what, and how often).
  metricsListen: { flag: 'metrics-listen', env: 'TWINX_METRICS_LISTEN', schema: values.listen('127.0.0.1:9500') },
  maxDepth: commonSettings.maxDepth,
  maxCost: commonSettings.maxCost,
  migrate: commonSettings.migrate,
  logLevel: commonSettings.logLevel,
};

export type DirectoryConfig = ConfigOf<typeof directorySettings>;
