import type { JsMsg } from '@nats-io/jetstream';
import { fromJetStream, RejectedMessage, verifyMessage, type RejectionCounts } from '../../lib/bus/signing.ts';
import type { AccessClosedEvent, TwinLifecycleEvent } from '../../lib/events.ts';
import type { Logger } from '../../lib/logger.ts';
import { consumeDurable, DURABLES, natsNames, type Consuming, type NatsConnection } from '../../lib/nats.ts';
import type { NetworkKeys } from '../../lib/tokens/network.ts';
import type { RevocationList } from '../../lib/tokens/revocations.ts';
import type { DirectoryCache } from './cache.ts';

export interface DirectoryEventsOptions {
  /** Where the catalog and revoked tokens are written (and remembered). */
  cache: DirectoryCache;
  nats: NatsConnection;
  subjectPrefix: string;
  /** Members' keys: every message is checked against its signer's before it is applied. */
  keys: NetworkKeys;
  /** Where refused messages are counted. */
  rejected: RejectionCounts;
  logger: Logger;
}

/** Deliveries of a message from an organization the registry does not list yet before it is dropped. */
const UNKNOWN_SIGNER_DELIVERIES = 5;

/** Applies a lifecycle event to the catalog: a twin listed is upserted, anything else removed. */
function applyLifecycle(cache: DirectoryCache, event: TwinLifecycleEvent): Promise<void> {
  const { twin } = event;
  return cache.changeCatalog(event.twinId, async (tx) => {
    if (twin === null) {
      await tx.catalogTwin.deleteMany({ where: { id: event.twinId } });
      return;
    }
    const entry = { org: event.org, ...twin, updatedAt: new Date(event.at) };
    await tx.catalogTwin.upsert({ where: { id: event.twinId }, create: { id: event.twinId, ...entry }, update: entry });
  });
}

/** Applies what an organization's revocation list says (lib/tokens/revocations.ts). */
export async function applyRevocationList(cache: DirectoryCache, keys: NetworkKeys, org: string, list: RevocationList): Promise<void> {
  await cache.recordRevoked(org, list.revoked);
  for (const key of list.retiredKeys) await keys.retire(org, key.kid, Date.parse(key.retiredAt), key.jwk);
}

/** A member's key retired, as told on the store's channel: `retired:<ms> <org> <kid>`. */
const RETIRED = 'retired:';

/**
 * Applies a closing of access. A retired key counts here at once, and on every other replica as
 * soon as it hears of it: the announcement reaches one replica only (the consumer is shared), and
 * the others would otherwise trust the key until they read the member's revocation list again.
 */
async function applyAccessClosed(cache: DirectoryCache, keys: NetworkKeys, announcement: AccessClosedEvent): Promise<void> {
  if (announcement.type !== 'key.retired') return cache.recordRevoked(announcement.org, [announcement]);
  const at = Date.parse(announcement.at);
  await keys.retire(announcement.org, announcement.kid, at);
  await cache.tell(`${RETIRED}${at} ${announcement.org} ${announcement.kid}`);
}

/** Applies a retirement another replica told of (`applyAccessClosed`); false for a payload that is not one. */
export function heardRetirement(keys: NetworkKeys, payload: string, logger: Logger): boolean {
  if (!payload.startsWith(RETIRED)) return false;
  const [at, org, ...kid] = payload.slice(RETIRED.length).split(' ');
  if (org && kid.length > 0)
    keys.retire(org, kid.join(' '), Number(at)).catch((error: unknown) => logger.warn({ err: error, org }, 'key retirement not applied'));
  return true;
}

/**
 * Keeps the catalog current from the organizations' twin lifecycle events, and records the
 * tokens they revoke and the keys they retire. Both consumers are durable and ordered: the
 * directory catches up on whatever happened while it was down. A message that is not what its
 * subject's organization signed is counted and dropped, never applied.
 */
export async function startDirectoryEvents(options: DirectoryEventsOptions): Promise<Consuming> {
  const { cache, nats, logger, keys } = options;
  const names = natsNames(options.subjectPrefix);
  const verified = async (message: JsMsg) => {
    try {
      return await verifyMessage(fromJetStream(message), { subjectPrefix: options.subjectPrefix, keys });
    } catch (error) {
      if (!(error instanceof RejectedMessage)) throw error;
      // A member the registry lists a moment later (its first events can come before this
      // replica heard of it), a key its JWKS did not list yet: tried again a few times (the
      // lookup reads the JWKS meanwhile), then dropped like any other refusal.
      if ((error.reason === 'unknown-signer' || error.reason === 'unknown-key') && message.info.deliveryCount < UNKNOWN_SIGNER_DELIVERIES) throw error;
      options.rejected.add(error.reason);
      logger.warn({ subject: message.subject, seq: message.seq, reason: error.reason, err: error }, 'bus message refused');
      return null;
    }
  };
  const catalog = consumeDurable({
    nats,
    logger,
    stream: names.eventsStream,
    durable: DURABLES.catalog,
    handle: async (message) => {
      const verifiedMessage = await verified(message);
      if (verifiedMessage?.kind === 'event' && verifiedMessage.event.type === 'twin') await applyLifecycle(cache, verifiedMessage.event);
    },
  });
  const revocations = consumeDurable({
    nats,
    logger,
    stream: names.revocationsStream,
    durable: DURABLES.revocations,
    handle: async (message) => {
      const verifiedMessage = await verified(message);
      if (verifiedMessage?.kind === 'access-closed') await applyAccessClosed(cache, keys, verifiedMessage.announcement);
    },
  });
  return {
    get consuming() {
      return catalog.consuming && revocations.consuming;
    },
    async stop() {
      await catalog.stop();
      await revocations.stop();
    },
  };
}
