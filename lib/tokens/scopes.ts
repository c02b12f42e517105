/**
 * What a token may do at an organization (ARCHITECTURE.md, "Tokens"). `analytics:read` reads the
 * results of analytics (anomaly scores, alarms, health and RUL, KPIs) and `alarms:write`
 * acknowledges, assigns and comments alarms: an owner can share them without raw telemetry.
 * `supply:read` reads supply links and capacities, and lets a twin take part in impact answers.
 * Only these can be granted to a partner: never administration of the organization.
 */
export const GRANTABLE_SCOPES = [
  'twins:read',
  'telemetry:read',
  'twins:subscribe',
  'twins:write',
  'telemetry:write',
  'analytics:read',
  'alarms:write',
  'supply:read',
] as const;

/** Every scope: what can be granted, and the administration of the organization. */
export const SCOPES = [...GRANTABLE_SCOPES, 'grants:admin', 'audit:read'] as const;
export type Scope = (typeof SCOPES)[number];

/** Member roles and the scopes they stand for. */
export const ROLES = {
  admin: SCOPES,
  operator: GRANTABLE_SCOPES,
  viewer: ['twins:read', 'telemetry:read', 'twins:subscribe', 'analytics:read', 'supply:read'],
} as const satisfies Record<string, readonly Scope[]>;
export type Role = keyof typeof ROLES;
