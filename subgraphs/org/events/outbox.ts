import { randomUUID } from 'node:crypto';
import type {
  AlarmView,
  CatalogEntry,
  DisruptionView,
  KeyRetiredEvent,
  TokenRevokedEvent,
  TwinAlarmEvent,
  TwinDisruptionEvent,
  TwinLifecycleEvent,
} from '../../../lib/events.ts';
import { globalTwinId } from '../../../lib/ids.ts';
import { subjectPaths } from '../../../lib/nats.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';

type Tx = Prisma.TransactionClient;

/** `subject` is below the deployment's prefix, which the publisher adds. */
async function enqueue(tx: Tx, subject: string, payload: { eventId: string }): Promise<void> {
  await tx.outboxEvent.create({ data: { eventId: payload.eventId, subject, payload: payload as unknown as Prisma.InputJsonObject } });
}

/** What a twin's lifecycle event tells of it (`id` is the local id). */
interface EventTwin {
  id: string;
  kind: string;
  tags: string[];
}

/** What every event about a twin says of it, now. */
function eventBase(org: string, twin: EventTwin) {
  return { eventId: randomUUID(), org, twinId: globalTwinId(org, twin.id), at: new Date().toISOString(), kind: twin.kind, tags: twin.tags };
}

/** A twin as created or changed: its catalog entry's fields too. */
interface CatalogTwin extends EventTwin {
  name: string;
  listed: boolean;
  suppliers: { supplierId: string }[];
}

/** Records a twin's creation or change (after it), or its deletion (before it), in the transaction that makes it. */
export function twinChanged(tx: Tx, org: string, twin: CatalogTwin, change: 'created' | 'updated'): Promise<void>;
export function twinChanged(tx: Tx, org: string, twin: EventTwin, change: 'deleted'): Promise<void>;
export async function twinChanged(tx: Tx, org: string, twin: EventTwin | CatalogTwin, change: TwinLifecycleEvent['change']): Promise<void> {
  const entry: CatalogEntry | null =
    change !== 'deleted' && 'listed' in twin && twin.listed
      ? { name: twin.name, kind: twin.kind, tags: twin.tags, suppliedByIds: twin.suppliers.map((s) => s.supplierId) }
      : null;
  const event: TwinLifecycleEvent = { type: 'twin', ...eventBase(org, twin), change, twin: entry };
  await enqueue(tx, subjectPaths.event(org, twin.id, 'twin'), event);
}

/** Records a change of one of the twin's alarms, in the transaction that makes it. */
export async function alarmChanged(tx: Tx, org: string, twin: EventTwin, alarm: AlarmView, change: TwinAlarmEvent['change'], by: string): Promise<void> {
  const event: TwinAlarmEvent = { type: 'alarm', ...eventBase(org, twin), change, by, alarm };
  await enqueue(tx, subjectPaths.event(org, twin.id, 'alarm'), event);
}

/** Records that the twin's output is disrupted, or no longer, in the transaction that makes the cause. */
export async function disruptionChanged(tx: Tx, org: string, twin: EventTwin, disruption: DisruptionView): Promise<void> {
  const event: TwinDisruptionEvent = { type: 'disruption', ...eventBase(org, twin), disruption };
  await enqueue(tx, subjectPaths.event(org, twin.id, 'disruption'), event);
}

/** Records a token's revocation, in the transaction that made it. */
export async function tokenRevoked(
  tx: Tx,
  org: string,
  token: { jti: string; kind: TokenRevokedEvent['kind']; subject: string; expiresAt: Date },
): Promise<void> {
  const event: TokenRevokedEvent = {
    type: 'token.revoked',
    kind: token.kind,
    eventId: randomUUID(),
    org,
    jti: token.jti,
    subject: token.subject,
    expiresAt: token.expiresAt.toISOString(),
    at: new Date().toISOString(),
  };
  await enqueue(tx, subjectPaths.revocation(org), event);
}

/** Records a signing key's retirement, in the transaction that retires it. */
export async function keyRetired(tx: Tx, org: string, kid: string): Promise<void> {
  const event: KeyRetiredEvent = { type: 'key.retired', eventId: randomUUID(), org, kid, at: new Date().toISOString() };
  await enqueue(tx, subjectPaths.revocation(org), event);
}
