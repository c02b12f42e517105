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

/** Configuration of `twinx directory serve`. */
export const directorySettings = {
  ...operatorSettings,
  natsUrl: commonSettings.natsUrl,
  subjectPrefix: commonSettings.subjectPrefix,
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4100) },
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
