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
