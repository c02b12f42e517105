import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { signMessage, type MessageSigner } from '../../../lib/bus/signing.ts';
import type { Logger } from '../../../lib/logger.ts';
import { natsConnected, type NatsConnection } from '../../../lib/nats.ts';
import type { KeyRing } from '../auth/keys.ts';
import type { OrgDb } from '../db.ts';

export interface OutboxPublisherOptions {
  org: string;
  db: OrgDb;
  /** Signs every event with the organization's current signing key. */
  keys: KeyRing;
  nats: NatsConnection;
  subjectPrefix: string;
  logger: Logger;
  /**
   * Whether every event added to the outbox, by any process, is announced to this one now (the
   * organization's NOTIFY channel, which then calls `kick`).
   */
  listening: () => boolean;
  /**
   * How often the outbox is looked at whatever was announced, in ms: what an announcement did
   * not bring (a store whose migrations are not applied yet has no trigger; a connection pooler
   * may drop the channel while its pings still pass) waits that long at most.
   */
  sweepMs: number;
}

/**
 * How often the publisher looks whether it must go through the outbox unasked, in ms: while
 * additions are not announced to it (then it polls), and while events are left behind (NATS
 * was down, a publish failed, or another replica held the publisher lock).
 */
const TICK_MS = 500;
/** Events published per transaction holding the publisher lock. */
const BATCH = 500;
/** Any constant: one publisher at a time per organization keeps events in commit order. */
export const PUBLISHER_LOCK = 0x7477696e; // "twin"
/**
 * The longest a publisher may hold the lock without a word to Postgres, in ms: past it, Postgres
 * ends its session and the lock is free for the other replicas. One frozen while it held the lock
 * would otherwise stall the organization's events: for as long as it stays stopped (its kernel
 * still answers for its connection), or hours if its machine is paused (until TCP keepalive gives
 * up on it). Its longest wait between two statements is JetStream's acknowledgements (5 s at
 * most); an event published but not marked then is published again, and JetStream drops the copy.
 */
export const LOCK_IDLE_MS = 10_000;
/** Takes the publisher lock for the transaction, if free, and bounds the transaction's idle time to `LOCK_IDLE_MS` (constants only). */
export const TAKE_PUBLISHER_LOCK = `SELECT pg_try_advisory_xact_lock(${PUBLISHER_LOCK}) AS locked, set_config('idle_in_transaction_session_timeout', '${LOCK_IDLE_MS}', true)`;

/**
 * Publishes the outbox to JetStream as it finds events committed (in id order among those found at
 * once), `Nats-Msg-Id` = event id, each event signed by the organization when it is published
 * (lib/bus/signing.ts). An event is marked published only once JetStream acknowledged it, so
 * NATS being down delays events and a crash between the two sends the event again, which
 * JetStream's dedupe drops.
 */
export class OutboxPublisher {
  private readonly timer: NodeJS.Timeout;
  private readonly js: JetStreamClient;
  private running: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  /**
   * When the outbox is looked at next unasked: at the next tick while events may be waiting that
   * no announcement will bring (until a run has published all), else at the next sweep.
   */
  private lookAt = 0;

  constructor(private readonly options: OutboxPublisherOptions) {
    this.js = jetstream(options.nats);
    this.timer = setInterval(() => {
      if (!options.listening() || Date.now() >= this.lookAt) this.kick();
    }, TICK_MS);
  }

  /** Publishes what is pending, soon. Calls while a run is going make one more run. */
  kick(): void {
    if (this.stopped) return;
    if (this.again) return;
    this.again = true;
    this.running = this.running.then(async () => {
      this.again = false;
      this.lookAt = 0;
      try {
        // Nothing is sent while NATS is down: a request sent then waits out its whole timeout, even
        // once NATS is back, where the next tick after its return publishes at once.
        while (!this.stopped && natsConnected(this.options.nats)) {
          const published = await this.publishBatch();
          // Another replica is publishing: what it did not see is looked at again at the next tick.
          if (published === null) return;
          if (published < BATCH) {
            this.lookAt = Date.now() + this.options.sweepMs;
            return;
          }
        }
      } catch (error) {
        this.options.logger.warn({ err: error }, 'outbox not published yet, will retry');
      }
    });
  }

  /** Resolves when everything committed before the call has been published (or a try failed). */
  flushed(): Promise<void> {
    this.kick();
    return this.running;
  }

  /** Publishes up to one batch; returns how many were published, or null if another process holds the publisher lock. */
  private async publishBatch(): Promise<number | null> {
    const { db, subjectPrefix, org, keys } = this.options;
    const { published, failure } = await db.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRawUnsafe<{ locked: boolean }[]>(TAKE_PUBLISHER_LOCK);
        if (!lock?.locked) return { published: null, failure: null };
        const events = await tx.outboxEvent.findMany({ where: { publishedAt: null }, orderBy: { id: 'asc' }, take: BATCH });
        // Through the transaction: a store with a single connection (PGlite) has no other.
        const key = events.length > 0 ? await keys.signingKey(tx) : null;
        const signers: MessageSigner[] = [];
        for (const event of events) {
          const payload = event.payload as { type?: string; kid?: string };
          // A key's retirement is signed by that key: whoever still trusts it can check at once
          // (no need to learn a newer key first), and a retirement can only close access.
          signers.push({ org, key: payload.type === 'key.retired' ? await keys.keyOf(payload.kid!, tx) : key! });
        }
        // Sent one after the other without waiting for each acknowledgement: one connection
        // delivers them in order and JetStream stores them in that order. Only what was
        // acknowledged up to the first failure counts as published; whatever follows it is sent
        // again later, and JetStream drops the copies of those it had already stored (same id).
        const acknowledgements = await Promise.allSettled(
          events.map((event, index) => {
            const body = new TextEncoder().encode(JSON.stringify(event.payload));
            const headers = signMessage(event.subject, body, signers[index]!);
            return this.js.publish(`${subjectPrefix}.${event.subject}`, body, { msgID: event.eventId, headers });
          }),
        );
        const failed = acknowledgements.findIndex((result) => result.status === 'rejected');
        const done = events.slice(0, failed === -1 ? events.length : failed).map((event) => event.id);
        const failure = failed === -1 ? null : (acknowledgements[failed] as PromiseRejectedResult).reason;
        if (done.length > 0) await tx.outboxEvent.updateMany({ where: { id: { in: done } }, data: { publishedAt: new Date() } });
        return { published: done.length, failure };
      },
      { timeout: 60_000 },
    );
    if (failure) throw failure;
    return published;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopped = true;
    await this.running;
  }
}

/** Events committed but not yet published, and when the oldest of them was committed. */
export async function outboxBacklog(db: OrgDb): Promise<{ pending: number; oldest: Date | null }> {
  const { _count, _min } = await db.outboxEvent.aggregate({ where: { publishedAt: null }, _count: true, _min: { createdAt: true } });
  return { pending: _count, oldest: _min.createdAt };
}
