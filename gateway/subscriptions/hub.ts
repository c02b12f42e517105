import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { fromJetStream, RejectedMessage, RejectionCounts, verifyMessage, type VerifiedMessage } from '../../lib/bus/signing.ts';
import type { TwinEvent } from '../../lib/events.ts';
import type { Logger } from '../../lib/logger.ts';
import { ErrorCode, TwinxError } from '../../lib/errors.ts';
import { consumeLive, natsConnected, natsNames, type LiveMessages, type NatsConnection } from '../../lib/nats.ts';
import type { JWK } from 'jose';
import type { ClosedAccess, NetworkKeys } from '../../lib/tokens/network.ts';
import type { RevocationList } from '../../lib/tokens/revocations.ts';

/** An event as the gateway hands it to subscriptions: verified and decoded once, with its stream position. */
export interface FeedEvent {
  seq: number;
  event: TwinEvent;
}

type Listener<T> = (item: T) => void;

/** Live events the hub keeps for replays joining the live feed (as many as a consumer's batch). */
const RECENT_EVENTS = 100;

/** A subscription resuming after a cursor, as the hub feeds it. */
export interface Follower {
  /** Takes an event (the live feed never waits for it). */
  push(item: FeedEvent): void;
  /** Resolves once everything pushed has been taken: a replay reads on only then. */
  taken(): Promise<void>;
  /** Its events come from the live feed from now on: those up to `replayedUpTo` were replayed. */
  goLive(replayedUpTo: number): void;
}

/**
 * Ends an ordered consumer: its messages, then the consumer itself, which would otherwise stay
 * on the server for five idle minutes (one per subscription that resumed and ended). While NATS
 * cannot be reached it is not asked (the request would wait out its timeout): the server removes
 * it once it has been idle that long.
 */
async function closeOrdered(nats: NatsConnection, consumer: Consumer, messages: ConsumerMessages): Promise<void> {
  await messages.close();
  if (natsConnected(nats)) await consumer.delete().catch(() => undefined);
}

export interface EventHubOptions {
  nats: NatsConnection;
  subjectPrefix: string;
  /** Members' keys: every message is checked against its signer's before anything acts on it. */
  keys: NetworkKeys;
  logger: Logger;
}

/**
 * What one gateway consumes from NATS for all its subscriptions: the live event stream (one
 * ordered consumer, each message verified and decoded once and handed to every subscription)
 * and the access closed anywhere in the network (tokens revoked, keys retired: announced on
 * the bus, and learned from each organization's revocation list). Gateways share nothing else.
 * A message that is not what its subject's organization signed is counted and dropped.
 */
export class EventHub {
  private readonly names: ReturnType<typeof natsNames>;
  private readonly live = new Set<Listener<FeedEvent>>();
  private readonly closedListeners = new Set<Listener<ClosedAccess>>();
  /** Revoked tokens (`<issuer> <jti>`: an organization revokes its own tokens only), until they would have expired (ms). */
  private readonly revoked = new Map<string, number>();
  /** Closes each feed the hub consumes. */
  private readonly feeds: (() => Promise<void>)[] = [];
  /** The live event stream and the revocations, as they are consumed. */
  private readonly consumed: LiveMessages[] = [];
  /** Messages dropped, by reason (`/readyz`). */
  readonly rejected = new RejectionCounts();
  /** The stream position the live feed has handed out: every event after it is still to come. */
  private livePosition = 0;
  /**
   * The last events the live feed handed out, all those after `recentFrom`: a replay that has come
   * this close joins the live feed without waiting to be level with it (under steady load it
   * never quite is).
   */
  private readonly recent: FeedEvent[] = [];
  private recentFrom = 0;

  constructor(private readonly options: EventHubOptions) {
    this.names = natsNames(options.subjectPrefix);
  }

  async start(): Promise<void> {
    const js = jetstream(this.options.nats);
    // Every revocation ever announced (the stream keeps them longer than any token lives).
    const revocationsConsumer = await js.consumers.get(this.names.revocationsStream, { filter_subjects: this.names.revocationsSubjects });
    const revocations = await consumeLive(this.options.nats, revocationsConsumer);
    // From a known position (not DeliverPolicy.New), so that resuming subscriptions know where the live feed starts.
    this.livePosition = (await (await jetstreamManager(this.options.nats)).streams.info(this.names.eventsStream)).state.last_seq;
    this.recentFrom = this.livePosition;
    const eventsConsumer = await js.consumers.get(this.names.eventsStream, {
      filter_subjects: this.names.eventsSubjects,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.livePosition + 1,
    });
    const events = await consumeLive(this.options.nats, eventsConsumer);
    this.consumed.push(revocations, events);
    this.feeds.push(
      () => closeOrdered(this.options.nats, revocationsConsumer, revocations.messages),
      () => closeOrdered(this.options.nats, eventsConsumer, events.messages),
    );
    this.pump(revocations.messages, async (verified) => {
      if (verified.kind !== 'access-closed') return;
      const { announcement } = verified;
      if (announcement.type === 'token.revoked') this.revoke(announcement.org, announcement.jti, announcement.expiresAt);
      else await this.retireKey(announcement.org, announcement.kid, Date.parse(announcement.at));
    });
    this.pump(
      events.messages,
      (verified, message) => {
        if (verified.kind !== 'event') return;
        const item = { seq: message.seq, event: verified.event };
        for (const listener of this.live) listener(item);
        // In the same step as handing it out: a subscription starting now starts after it.
        this.livePosition = item.seq;
        this.recent.push(item);
        if (this.recent.length > RECENT_EVENTS) this.recentFrom = this.recent.shift()!.seq;
      },
      // Messages not handed out (not an event, or dropped) move it on too.
      { passed: (message) => (this.livePosition = message.seq) },
    );
  }

  /**
   * Verifies each message, in order, then hands it to `handle`; one that does not verify is
   * skipped, and counted unless `replay` (the live feed has counted it already). `passed` is
   * told of every message once it is done with.
   */
  private pump(
    messages: ConsumerMessages,
    handle: (verified: VerifiedMessage, message: JsMsg) => unknown,
    { replay = false, passed }: { replay?: boolean; passed?: (message: JsMsg) => void } = {},
  ): void {
    void (async () => {
      for await (const message of messages) {
        try {
          await handle(await verifyMessage(fromJetStream(message), { subjectPrefix: this.options.subjectPrefix, keys: this.options.keys }), message);
        } catch (error) {
          if (!(error instanceof RejectedMessage)) this.options.logger.error({ err: error, subject: message.subject }, 'event not handled, skipped');
          else if (!replay) {
            this.rejected.add(error.reason);
            this.options.logger.warn({ err: error, subject: message.subject, seq: message.seq }, 'bus message dropped');
          }
        }
        passed?.(message);
      }
    })();
  }

  /** Access closed: running subscriptions resting on it are told (and ended). */
  close(closed: ClosedAccess): void {
    for (const listener of this.closedListeners) listener(closed);
  }

  /** A token revoked by its issuer: refused from now on, until it would have expired anyway. */
  private revoke(org: string, jti: string, expiresAt: string): void {
    const key = `${org} ${jti}`;
    if (this.revoked.has(key)) return;
    this.revoked.set(key, Date.parse(expiresAt));
    this.close({ kind: 'revoked', org, jti });
  }

  /** A key retired by its organization from `at` (ms); what rests on it is closed once. */
  private async retireKey(org: string, kid: string, at: number, jwk?: JWK): Promise<void> {
    if (await this.options.keys.retire(org, kid, at, jwk)) this.close({ kind: 'key-retired', org, kid });
  }

  /** What an organization's revocation list says (read when it joins, and now and then); forgets revocations of tokens now expired. */
  async apply(org: string, list: RevocationList): Promise<void> {
    const now = Date.now();
    for (const [key, until] of this.revoked) if (until < now) this.revoked.delete(key);
    for (const { jti, expiresAt } of list.revoked) this.revoke(org, jti, expiresAt);
    for (const key of list.retiredKeys) await this.retireKey(org, key.kid, Date.parse(key.retiredAt), key.jwk);
  }

  /** The stream position the live feed has handed out: `onEvent` receives the events after it. */
  get position(): number {
    return this.livePosition;
  }

  /** Live events from now on. */
  onEvent(listener: Listener<FeedEvent>): () => void {
    this.live.add(listener);
    return () => this.live.delete(listener);
  }

  onClosed(listener: Listener<ClosedAccess>): () => void {
    this.closedListeners.add(listener);
    return () => this.closedListeners.delete(listener);
  }

  isRevoked(token: { org: string; jti: string }): boolean {
    return this.revoked.has(`${token.org} ${token.jti}`);
  }

  /**
   * Whether the live events and the revocations are flowing. While they are not (NATS down),
   * subscriptions stay open: each follows its place in the stream, and receives what it missed
   * once NATS is back.
   */
  get consuming(): boolean {
    return this.consumed.length > 0 && this.consumed.every((feed) => feed.consuming);
  }

  /** A request to NATS for a subscription that resumes; NATS down (or not answering) is `UNAVAILABLE`, for the client to retry. */
  private async ask<T>(request: () => Promise<T>): Promise<T> {
    const unavailable = () =>
      new TwinxError(ErrorCode.UNAVAILABLE, 'The event stream is unavailable (NATS): resume again in a moment.', { dependency: 'nats' });
    if (!natsConnected(this.options.nats)) throw unavailable();
    try {
      return await request();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'event stream unavailable to a resuming subscription');
      throw unavailable();
    }
  }

  /** The oldest event the stream still holds. */
  firstSeq(): Promise<number> {
    return this.ask(async () => (await (await jetstreamManager(this.options.nats)).streams.info(this.names.eventsStream)).state.first_seq);
  }

  /**
   * Events from a position on, for a subscription that resumes. They are read with an ordered
   * consumer of its own, each message once the follower has taken the one before (a long replay
   * holds one batch of the consumer at most); once the replay has come within the events the live
   * feed keeps, its consumer is deleted and the live feed carries on with the events after the
   * last one replayed (by stream sequence: none missed, none twice). Returns its end.
   */
  async replay(fromSeq: number, follower: Follower): Promise<() => Promise<void>> {
    let end = async () => {};
    let ended = false;
    let live = false;
    const follow = (after: number) => {
      live = true;
      for (const item of this.recent) if (item.seq > after) follower.push(item);
      const off = this.onEvent((item) => item.seq > after && follower.push(item));
      end = async () => void off();
      follower.goLive(this.livePosition);
    };
    if (fromSeq - 1 >= this.recentFrom) follow(fromSeq - 1);
    else {
      const { consumer, messages } = await this.ask(async () => {
        const consumer = await jetstream(this.options.nats).consumers.get(this.names.eventsStream, {
          filter_subjects: this.names.eventsSubjects,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: fromSeq,
        });
        // Bounded: the ordered consumer pulls its next batch only as this reads on.
        return { consumer, messages: (await consumeLive(this.options.nats, consumer)).messages };
      });
      end = () => closeOrdered(this.options.nats, consumer, messages);
      this.pump(
        messages,
        async (verified, message) => {
          if (live || verified.kind !== 'event') return;
          follower.push({ seq: message.seq, event: verified.event });
          await follower.taken();
        },
        {
          replay: true,
          // In step with the live feed: every event after this message is kept by it or still to come.
          passed: (message) => {
            if (live || ended || message.seq < this.recentFrom) return;
            void end();
            follow(message.seq);
          },
        },
      );
    }
    return () => {
      ended = true;
      return end();
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.feeds.map((close) => close()));
  }
}
