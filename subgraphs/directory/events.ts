import type { JsMsg } from '@nats-io/jetstream';
import type { TokenRevokedEvent, TwinLifecycleEvent } from '../../lib/events.ts';
import type { Logger } from '../../lib/logger.ts';
import { consumeDurable, natsNames, type NatsConnection } from '../../lib/nats.ts';
import type { DirectoryDb } from './db.ts';

export interface DirectoryEventsOptions {
  db: DirectoryDb;
  nats: NatsConnection;
  subjectPrefix: string;
  logger: Logger;
}

/** Applies a lifecycle event to the catalog: a twin listed is upserted, anything else removed. */
async function applyLifecycle(db: DirectoryDb, event: TwinLifecycleEvent): Promise<void> {
  if (event.twin === null) {
    await db.catalogTwin.deleteMany({ where: { id: event.twinId } });
    return;
  }
  const entry = { org: event.org, ...event.twin, updatedAt: new Date(event.at) };
  await db.catalogTwin.upsert({ where: { id: event.twinId }, create: { id: event.twinId, ...entry }, update: entry });
}

/**
 * Keeps the catalog current from the organizations' twin lifecycle events, and records the
 * grants they revoke. Both consumers are durable and ordered: the directory catches up on
 * whatever happened while it was down.
 */
export async function startDirectoryEvents(options: DirectoryEventsOptions): Promise<{ stop: () => Promise<void> }> {
  const { db, nats, logger } = options;
  const names = natsNames(options.subjectPrefix);
  const json = <T>(message: JsMsg) => message.json<T>();
  const catalog = await consumeDurable({
    nats,
    logger,
    stream: names.eventsStream,
    durable: 'directory-catalog',
    filterSubject: names.lifecycleFilter,
    handle: (message) => applyLifecycle(db, json<TwinLifecycleEvent>(message)),
  });
  const revocations = await consumeDurable({
    nats,
    logger,
    stream: names.revocationsStream,
    durable: 'directory-revocations',
    filterSubject: names.revocationsSubjects,
    handle: async (message) => {
      const event = json<TokenRevokedEvent>(message);
      // Grants decide what the directory shows partners; a member's tokens are checked by their own organization.
      if (event.kind !== 'GRANT') return;
      await db.revokedGrant.upsert({ where: { jti: event.jti }, create: { jti: event.jti, org: event.org, expiresAt: new Date(event.expiresAt) }, update: {} });
    },
  });
  return {
    async stop() {
      await catalog.stop();
      await revocations.stop();
    },
  };
}
