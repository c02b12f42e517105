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

/** A twin was created, changed or deleted; `twin` is absent when it is deleted or not listed. */
export interface TwinLifecycleEvent {
  type: 'twin';
  eventId: string;
  org: string;
  twinId: string;
  change: 'created' | 'updated' | 'deleted';
  at: string;
  twin: CatalogEntry | null;
}

/** A grant was revoked by the organization that issued it. */
export interface GrantRevokedEvent {
  type: 'grant.revoked';
  eventId: string;
  org: string;
  jti: string;
  partner: string;
  expiresAt: string;
  at: string;
}
