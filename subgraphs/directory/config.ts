import { z } from 'zod';
import { values, type ConfigOf } from '../../lib/config.ts';
import { MIN_KEY_SECRET_LENGTH } from '../org/auth/keys.ts';

/** The directory's own store and the network operator's (keys and administrator tokens). */
export const networkStoreSettings = {
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', schema: values.storeLocation },
  operatorDatabaseUrl: { flag: 'operator-database-url', env: 'TWINX_OPERATOR_DATABASE_URL', schema: values.storeLocation },
};

/** Commands that sign the operator's tokens also need its key secret. */
export const operatorSettings = {
  ...networkStoreSettings,
  keySecret: { flag: 'key-secret', env: 'TWINX_KEY_SECRET', schema: z.string().min(MIN_KEY_SECRET_LENGTH, `at least ${MIN_KEY_SECRET_LENGTH} characters`) },
};

/** Configuration of `twinx directory serve`. */
export const directorySettings = {
  ...operatorSettings,
  natsUrl: { flag: 'nats-url', env: 'NATS_URL', schema: values.natsUrl.default('nats://127.0.0.1:4222') },
  subjectPrefix: { flag: 'subject-prefix', env: 'TWINX_SUBJECT_PREFIX', schema: values.subjectPrefix },
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4100) },
  host: { flag: 'host', env: 'TWINX_HOST', schema: z.string().min(1).default('127.0.0.1') },
  migrate: { flag: 'migrate', env: 'TWINX_MIGRATE', schema: values.flag },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', schema: values.logLevel },
};

export type DirectoryConfig = ConfigOf<typeof directorySettings>;
