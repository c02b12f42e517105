import DataLoader from 'dataloader';
import type { Access } from './access.ts';
import type { HealthThresholds, HealthTrainer } from './analytics/health.ts';
import type { AuditLog } from './audit/log.ts';
import type { Authenticator } from './auth/authenticator.ts';
import type { KeyRing } from './auth/keys.ts';
import type { OrgDb } from './db.ts';
import type { OrgNames } from './names.ts';
import { loadTwins, type TwinRow } from './twins/store.ts';

/** Limits an organization enforces on callers. */
export interface OrgLimits {
  /** Readings accepted in one ingest batch (GraphQL or NATS). */
  maxIngestBatch: number;
  /** Largest page of twins or readings. */
  maxPageSize: number;
  /** Most buckets one aggregate query may return. */
  maxBuckets: number;
}

/** What data operations work with: the store, the caller's access, and the limits. */
export interface OrgBase {
  names: OrgNames;
  db: OrgDb;
  access: Access;
  limits: OrgLimits;
  /** Whether readings are analysed as they are stored (anomaly scores, alarms, health). @default true */
  analytics?: boolean;
  /** The organization's alarm thresholds for health and RUL (a kind may override them). @default DEFAULT_HEALTH_THRESHOLDS */
  healthThresholds?: HealthThresholds;
}

/** Everything a resolver needs for one request. */
export interface OrgContext extends OrgBase {
  keys: KeyRing;
  audit: AuditLog;
  auth: Authenticator;
  /** Trains kinds' health models in the background (after a failure is recorded). */
  healthTrainer: HealthTrainer;
  healthThresholds: HealthThresholds;
  /** Twins by local id, batched per request and filtered by what the caller may read. */
  twins: DataLoader<string, TwinRow | null>;
}

export function createOrgContext(base: Omit<OrgContext, 'twins'>): OrgContext {
  return { ...base, twins: new DataLoader((ids) => loadTwins(base.db, base.access, ids)) };
}
