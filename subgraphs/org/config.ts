import { z } from 'zod';
import { commonSettings, values, type ConfigOf } from '../../lib/config.ts';
import { MIN_KEY_SECRET_LENGTH } from '../../lib/sealed.ts';

/** An organization's slug and store: what commands acting in its name need. */
export const orgDbSettings = {
  org: { flag: 'org', env: 'TWINX_ORG', schema: values.slug },
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', schema: values.storeLocation },
};

/** Commands that sign tokens also need the key secret. */
export const orgStoreSettings = {
  ...orgDbSettings,
  keySecret: {
    flag: 'key-secret',
    env: 'TWINX_KEY_SECRET',
    schema: z.string().min(MIN_KEY_SECRET_LENGTH, `at least ${MIN_KEY_SECRET_LENGTH} characters: it encrypts the private signing keys`),
  },
};

export type OrgStoreConfig = ConfigOf<typeof orgStoreSettings>;

/** Configuration of `twinx org serve`: flag, environment fallback, validation. */
export const orgSettings = {
  ...orgStoreSettings,
  natsUrl: commonSettings.natsUrl,
  natsCreds: commonSettings.natsCreds,
  subjectPrefix: commonSettings.subjectPrefix,
  port: { flag: 'port', env: 'TWINX_PORT', schema: values.port(4001) },
  host: commonSettings.host,
  corsOrigins: commonSettings.corsOrigins,
  // Apart from the public port: metrics tell business (which partners read what, and how often).
  metricsListen: { flag: 'metrics-listen', env: 'TWINX_METRICS_LISTEN', schema: values.listen('127.0.0.1:9401') },
  maxIngestBatch: { flag: 'max-ingest-batch', env: 'TWINX_MAX_INGEST_BATCH', schema: values.positiveInt(5000) },
  healthAlarmBelow: { flag: 'health-alarm-below', env: 'TWINX_HEALTH_ALARM_BELOW', schema: z.coerce.number().gt(0).lt(1).default(0.3) },
  rulHorizonHours: { flag: 'rul-horizon-hours', env: 'TWINX_RUL_HORIZON_HOURS', schema: z.coerce.number().positive().default(72) },
  analytics: { flag: 'analytics', env: 'TWINX_ANALYTICS', schema: values.flag.default(true) },
  alarmEscalateAfterSeconds: { flag: 'alarm-escalate-after', env: 'TWINX_ALARM_ESCALATE_AFTER', schema: values.positiveInt(900) },
  maxDepth: commonSettings.maxDepth,
  maxCost: commonSettings.maxCost,
  migrate: commonSettings.migrate,
  logLevel: commonSettings.logLevel,
};

export type OrgConfig = ConfigOf<typeof orgSettings>;
