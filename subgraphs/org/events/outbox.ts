import { randomUUID } from 'node:crypto';
import type { CatalogEntry, TokenRevokedEvent, TwinLifecycleEvent } from '../../../lib/events.ts';
import { globalTwinId } from '../../../lib/ids.ts';
import { subjectPaths } from '../../../lib/nats.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';

type Tx = Prisma.TransactionClient;

/** `subject` is below the deployment's prefix, which the publisher adds. */
async function enqueue(tx: Tx, subject: string, payload: { eventId: string }): Promise<void> {
  await tx.outboxEvent.create({ data: { eventId: payload.eventId, subject, payload: payload as unknown as Prisma.InputJsonObject } });
}

/** Records a twin's creation or change (after it), or its deletion (before it), in the transaction that makes it. */
export async function twinChanged(tx: Tx, org: string, localId: string, change: TwinLifecycleEvent['change']): Promise<void> {
  const twin = await tx.twin.findUniqueOrThrow({
    where: { id: localId },
    select: { name: true, kind: true, tags: true, listed: true, suppliers: { select: { supplierId: true } } },
  });
  const entry: CatalogEntry | null =
    change !== 'deleted' && twin.listed ? { name: twin.name, kind: twin.kind, tags: twin.tags, suppliedByIds: twin.suppliers.map((s) => s.supplierId) } : null;
  const event: TwinLifecycleEvent = {
    type: 'twin',
    eventId: randomUUID(),
    org,
    twinId: globalTwinId(org, localId),
    at: new Date().toISOString(),
    kind: twin.kind,
    tags: twin.tags,
    change,
    twin: entry,
  };
  await enqueue(tx, subjectPaths.event(org, localId, 'twin'), event);
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
  await enqueue(tx, subjectPaths.tokenRevoked(org), event);
}
