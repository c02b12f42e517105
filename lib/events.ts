/**
 * Events organizations publish on NATS JetStream (ARCHITECTURE.md, "Events and subscriptions").
 * Each carries `eventId`, also sent as `Nats-Msg-Id` so that JetStream drops a second copy.
 * Whoever receives one checks it against its schema: it may come from a member gone rogue.
 */
import { z } from 'zod';
import { parseTwinId } from './ids.ts';

const text = (max: number) => z.string().min(1).max(max);
const time = z.iso.datetime({ offset: true });
/** Bounded like the organization bounds what it stores (lib/ids.ts, twins/store.ts): a message can never be huge. */
const tags = z.array(text(64)).max(32);

/** What the network's catalog knows of a twin: never its state or telemetry. */
export const catalogEntrySchema = z.object({ name: text(200), kind: text(64), tags, suppliedByIds: z.array(text(200)).max(100) });
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;

/** What every event about a twin says: which twin, and what selectors need to know of it. */
const twinEventBase = {
  eventId: text(128),
  org: text(40),
  /** Global id. */
  twinId: text(200),
  at: time,
  kind: text(64),
  tags,
};

/** A twin was created, changed or deleted; `twin` is absent when it is deleted or not listed. */
export const twinLifecycleEventSchema = z.object({
  ...twinEventBase,
  type: z.literal('twin'),
  change: z.enum(['created', 'updated', 'deleted']),
  twin: catalogEntrySchema.nullable(),
});
export type TwinLifecycleEvent = z.infer<typeof twinLifecycleEventSchema>;

/** A twin's state moved forward (`state`), and it went into alert (`alert`, after its `state`). */
export const twinStateEventSchema = z.object({
  ...twinEventBase,
  type: z.enum(['state', 'alert']),
  state: z.object({
    status: z.enum(['UNKNOWN', 'OK', 'ALERT']),
    updatedAt: time.nullable(),
    metrics: z.array(z.object({ metric: text(64), unit: text(32), value: z.number(), at: time, inRange: z.boolean().nullable() })).max(100),
  }),
});
export type TwinStateEvent = z.infer<typeof twinStateEventSchema>;

/** The numbers behind an alarm (which rule or detector, score, baseline, value, limit…): a few flat fields. */
const explanation = z
  .record(text(64), z.union([z.number(), z.string().max(200), z.boolean(), z.null()]))
  .refine((value) => Object.keys(value).length <= 16, 'at most 16 fields');

/** An alarm as events and the network graph show it (subgraphs/org/analytics/alarms.ts). */
export const alarmSchema = z.object({
  id: text(64),
  /** Global id. */
  twinId: text(200),
  /** `range:<metric>`, `anomaly:<metric>`, `health` or `rul`. */
  cause: text(100),
  severity: z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']),
  /** ISA-18.2's states: CLOSED once cleared and acknowledged. */
  state: z.enum(['ACTIVE_UNACKNOWLEDGED', 'ACTIVE_ACKNOWLEDGED', 'CLEARED_UNACKNOWLEDGED', 'CLOSED']),
  active: z.boolean(),
  acknowledged: z.boolean(),
  explanation,
  raisedAt: time,
  activatedAt: time,
  clearedAt: time.nullable(),
  acknowledgedAt: time.nullable(),
  acknowledgedBy: text(200).nullable(),
  assignee: text(200).nullable(),
  escalation: z.number().int().min(0),
  escalatedAt: time.nullable(),
  closedAt: time.nullable(),
});
export type AlarmView = z.infer<typeof alarmSchema>;

/** What happened to an alarm. */
export const ALARM_CHANGES = ['raised', 'reactivated', 'cleared', 'acknowledged', 'assigned', 'commented', 'escalated'] as const;

/** An alarm of the twin changed (`change`), by whom (a member, a partner, or `system`). */
export const twinAlarmEventSchema = z.object({
  ...twinEventBase,
  type: z.literal('alarm'),
  change: z.enum(ALARM_CHANGES),
  by: text(200),
  alarm: alarmSchema,
});
export type TwinAlarmEvent = z.infer<typeof twinAlarmEventSchema>;

/** Why a twin's output is disrupted: it stopped (a failure recorded), an alarm ("if it stops now"), or its predicted failure. */
const DISRUPTION_CAUSES = ['STOPPED', 'ALARM', 'PREDICTED_FAILURE'] as const;

/**
 * A disruption of a twin's output as its owner announces it (lib/impact/types.ts, `Disruption`):
 * the twin keeps `capacity` of its output over [from, to). Announced OPEN, then CLEARED with the
 * same id and window, so that whoever computed its impact can take it back.
 */
export const disruptionSchema = z
  .object({
    id: text(128),
    cause: z.enum(DISRUPTION_CAUSES),
    state: z.enum(['OPEN', 'CLEARED']),
    from: time,
    to: time,
    capacity: z.number().min(0).lt(1),
    /** When it was opened: its impact as it was then is computed as of this time, also once it is cleared. */
    openedAt: time,
  })
  .refine((d) => Date.parse(d.to) > Date.parse(d.from), 'to must be after from');
export type DisruptionView = z.infer<typeof disruptionSchema>;

/** The twin's output is disrupted (`OPEN`), or no longer (`CLEARED`). */
export const twinDisruptionEventSchema = z.object({ ...twinEventBase, type: z.literal('disruption'), disruption: disruptionSchema });
export type TwinDisruptionEvent = z.infer<typeof twinDisruptionEventSchema>;

export const twinEventSchema = z.discriminatedUnion('type', [twinLifecycleEventSchema, twinStateEventSchema, twinAlarmEventSchema, twinDisruptionEventSchema]);
export type TwinEvent = z.infer<typeof twinEventSchema>;

/** A token (a partner's grant, or a member's token) was revoked by the organization that issued it. */
export const tokenRevokedEventSchema = z.object({
  type: z.literal('token.revoked'),
  kind: z.enum(['GRANT', 'MEMBER']),
  eventId: text(128),
  org: text(40),
  jti: text(128),
  /** The partner organization of a grant, the member of a member token. */
  subject: text(200),
  expiresAt: time,
  at: time,
});
export type TokenRevokedEvent = z.infer<typeof tokenRevokedEventSchema>;

/** An organization retired one of its signing keys: tokens it signed are no longer good anywhere. */
export const keyRetiredEventSchema = z.object({ type: z.literal('key.retired'), eventId: text(128), org: text(40), kid: text(128), at: time });
export type KeyRetiredEvent = z.infer<typeof keyRetiredEventSchema>;

/** What an organization announces on `<prefix>.revocations.<org>`: access it closed. */
export const accessClosedEventSchema = z.discriminatedUnion('type', [tokenRevokedEventSchema, keyRetiredEventSchema]);
export type AccessClosedEvent = z.infer<typeof accessClosedEventSchema>;

/** The network operator changed the membership (`<prefix>.network.changed`): read the registry again. */
export const networkChangedEventSchema = z.object({ type: z.literal('network.changed'), at: time });
export type NetworkChangedEvent = z.infer<typeof networkChangedEventSchema>;

/**
 * The most an organization accepts of one access report; a report beyond any of these is
 * refused as a whole (and acknowledged), so that no report can fill the audit log.
 */
export const ACCESS_REPORT_LIMITS = {
  /** Bytes of the message (also the stream's `max_msg_size`). */
  bytes: 256 * 1024,
  /** Days the stream keeps a report (an organization's outage), and so how long its id is remembered. */
  keptDays: 7,
  entries: 500,
  twinIdsPerEntry: 1000,
  grantJtisPerEntry: 16,
};

/** A partner named in an access report: a slug, or what a refused token claimed (`?` when nothing readable, `*` for many). */
const reportedPartner = z.string().min(1).max(64);

/**
 * What a gateway tells an organization about partners' accesses that never reached the
 * organization itself: events delivered by subscription (added up over a short window) and
 * tokens claiming to be its grants that the gateway refused. Published on
 * `<prefix>.audit.<org>`, which only gateways may publish on. The organization checks every
 * report against this schema (bounded, about its own twins only) before it records it, and the
 * gateway checks what it sends against the same.
 */
export function accessReportSchema(org: string) {
  const entry = z
    .object({
      partner: reportedPartner,
      grantJtis: z.array(z.string().min(1).max(128)).max(ACCESS_REPORT_LIMITS.grantJtisPerEntry),
      /** `deliver`: events sent to a subscription; `authenticate`: a token refused before any twin was reached. */
      action: z.enum(['deliver', 'authenticate']),
      /** Global ids; ids are owned: a report to an organization is about its own twins only. */
      twinIds: z.array(z.string().refine((id) => parseTwinId(id)?.org === org, `expected an id of ${org}`)).max(ACCESS_REPORT_LIMITS.twinIdsPerEntry),
      allowed: z.boolean(),
      /** The refusal's reason (e.g. `EXPIRED`), when refused. */
      reason: z.string().max(64).nullable(),
      /** Whether partner and grants were verified (false: only what a refused token claimed). */
      claimsVerified: z.boolean(),
      /** How many times this happened between `firstAt` and `lastAt`. */
      count: z.number().int().min(1).max(1e9),
      firstAt: time,
      lastAt: time,
    })
    .refine((e) => Date.parse(e.lastAt) >= Date.parse(e.firstAt), 'lastAt is before firstAt');
  return z.object({
    /** Also the `Nats-Msg-Id`: a report sent twice is stored once. */
    reportId: z.string().min(1).max(128),
    /** Which gateway saw the accesses. */
    gateway: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    entries: z.array(entry).max(ACCESS_REPORT_LIMITS.entries),
  });
}

export type AccessReport = z.infer<ReturnType<typeof accessReportSchema>>;
export type AccessReportEntry = AccessReport['entries'][number];
