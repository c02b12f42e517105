/**
 * Events organizations publish on NATS JetStream (ARCHITECTURE.md, "Events and subscriptions").
 * Each carries `eventId`, also sent as `Nats-Msg-Id` so that JetStream drops a second copy.
 */

/** What the network's catalog knows of a twin: never its state or telemetry. */
export interface CatalogEntry {
  name: string;
  kind: string;
  tags: string[];
  suppliedByIds: string[];
}

/** What every event about a twin says: which twin, and what selectors need to know of it. */
export interface TwinEventBase {
  eventId: string;
  org: string;
  /** Global id. */
  twinId: string;
  at: string;
  kind: string;
  tags: string[];
}

/** A twin was created, changed or deleted; `twin` is absent when it is deleted or not listed. */
export interface TwinLifecycleEvent extends TwinEventBase {
  type: 'twin';
  change: 'created' | 'updated' | 'deleted';
  twin: CatalogEntry | null;
}

/** A twin's state moved forward (`state`), and it went into alert (`alert`, after its `state`). */
export interface TwinStateEvent extends TwinEventBase {
  type: 'state' | 'alert';
  state: {
    status: 'UNKNOWN' | 'OK' | 'ALERT';
    updatedAt: string | null;
    metrics: { metric: string; unit: string; value: number; at: string; inRange: boolean | null }[];
  };
}

export type TwinEvent = TwinLifecycleEvent | TwinStateEvent;

/** A token (a partner's grant, or a member's token) was revoked by the organization that issued it. */
export interface TokenRevokedEvent {
  type: 'token.revoked';
  kind: 'GRANT' | 'MEMBER';
  eventId: string;
  org: string;
  jti: string;
  /** The partner organization of a grant, the member of a member token. */
  subject: string;
  expiresAt: string;
  at: string;
}

/**
 * What a gateway tells an organization about partners' accesses that never reached the
 * organization itself: events delivered by subscription (aggregated over a short window) and
 * tokens it issued that the gateway refused. Published on `<prefix>.audit.<org>`, which only
 * gateways may publish on.
 */
export interface AccessReport {
  /** Also the `Nats-Msg-Id`: a report sent twice is stored once. */
  reportId: string;
  /** Which gateway saw the accesses. */
  gateway: string;
  entries: AccessReportEntry[];
}

export interface AccessReportEntry {
  partner: string;
  grantJtis: string[];
  /** `deliver`: events sent to a subscription; `authenticate`: a token refused before any twin was reached. */
  action: 'deliver' | 'authenticate';
  /** Global ids. */
  twinIds: string[];
  allowed: boolean;
  /** The refusal's reason (e.g. `EXPIRED`), when refused. */
  reason: string | null;
  /** How many times this happened between `firstAt` and `lastAt`. */
  count: number;
  firstAt: string;
  lastAt: string;
}

/**
 * The most an organization accepts of one access report; a report beyond any of these is
 * refused as a whole (and acknowledged), so that no report can fill the audit log.
 */
export const ACCESS_REPORT_LIMITS = {
  /** Bytes of the message (also the stream's `max_msg_size`). */
  bytes: 256 * 1024,
  entries: 500,
  twinIdsPerEntry: 1000,
  grantJtisPerEntry: 16,
};
