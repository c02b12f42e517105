import { z } from 'zod';
import { values, type ConfigOf } from '../../lib/config.ts';
import { isValidSlug } from '../../lib/ids.ts';
import { MIN_KEY_SECRET_LENGTH } from './auth/keys.ts';

/** What every command working on an organization's store needs. */
export const orgDbSettings = {
  org: { flag: 'org', env: 'TWINX_ORG', schema: z.string().refine(isValidSlug, 'expected an organization slug such as acme or globex-steel') },
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', schema: values.storeLocation },
};

/** Commands that sign tokens also need the key secret. */
export const orgStoreSettings = {
  ...orgDbSettings,
  keySecret: {
    flag: 'key-secret',
    env: 'TWINX_KEY_SECRET',
    schema: z.string().min(MIN_KEY_SECRET_LENGTH, `at least ${MIN_KEY_SECRET_LENGTH} characters: it encrypts the organization's private keys`),
  },
};

export type OrgStoreConfig = ConfigOf<typeof orgStoreSettings>;

/** Configuration of `twinx org serve`: flag, environment fallback, validation. */
export const orgSettings = {
  ...orgStoreSettings,
  natsUrl: { flag: 'nats-url', env: 'NATS_URL', schema: values.natsUrl.default('nats://127.0.0.1:4222') },
  subjectPrefix: { flag: 'subject-prefix', env: 'TWINX_SUBJECT_PREFIX', schema: values.subjectPrefix },
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4001) },
  host: { flag: 'host', env: 'TWINX_HOST', schema: z.string().min(1).default('127.0.0.1') },
  maxIngestBatch: { flag: 'max-ingest-batch', env: 'TWINX_MAX_INGEST_BATCH', schema: values.positiveInt(5000) },
  migrate: { flag: 'migrate', env: 'TWINX_MIGRATE', schema: values.flag },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', schema: values.logLevel },
};

export type OrgConfig = ConfigOf<typeof orgSettings>;
