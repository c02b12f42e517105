import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { TokenRevokedEvent, TwinEvent } from '../../lib/events.ts';
import type { Logger } from '../../lib/logger.ts';
import { ensureEventStreams, natsNames, type NatsConnection } from '../../lib/nats.ts';

/** An event as the gateway hands it to subscriptions: decoded once, with its stream position. */
export interface FeedEvent {
  seq: number;
  event: TwinEvent;
}

type Listener<T> = (item: T) => void;

/**
 * What one gateway consumes from NATS for all its subscriptions: the live event stream (one
 * ordered consumer, each message decoded once and handed to every subscription) and the grants
 * revoked anywhere in the network. Gateways share nothing else.
 */
export class EventHub {
  private readonly names: ReturnType<typeof natsNames>;
  private readonly live = new Set<Listener<FeedEvent>>();
  private readonly revocationListeners = new Set<Listener<string>>();
  private readonly revoked = new Set<string>();
  private readonly feeds: ConsumerMessages[] = [];

  constructor(private readonly options: { nats: NatsConnection; subjectPrefix: string; logger: Logger }) {
    this.names = natsNames(options.subjectPrefix);
  }

  async start(): Promise<void> {
    const { nats } = this.options;
    await ensureEventStreams(nats, this.options.subjectPrefix);
    const js = jetstream(nats);
    // Every revocation ever announced (the stream keeps them longer than any token lives).
    const revocations = await (await js.consumers.get(this.names.revocationsStream, { filter_subjects: this.names.revocationsSubjects })).consume();
    const events = await (
      await js.consumers.get(this.names.eventsStream, { filter_subjects: this.names.eventsSubjects, deliver_policy: DeliverPolicy.New })
    ).consume();
    this.feeds.push(revocations, events);
    this.pump(revocations, (message) => {
      const { jti } = message.json<TokenRevokedEvent>();
      this.revoked.add(jti);
      for (const listener of this.revocationListeners) listener(jti);
    });
    this.pump(events, (message) => {
      const item = { seq: message.seq, event: message.json<TwinEvent>() };
      for (const listener of this.live) listener(item);
    });
  }

  /** Hands each message to `handle`; one it cannot understand is logged and skipped. */
  private pump(messages: ConsumerMessages, handle: (message: { seq: number; json: <T>() => T }) => void): void {
    void (async () => {
      for await (const message of messages) {
        try {
          handle(message);
        } catch (error) {
          this.options.logger.error({ err: error, subject: message.subject }, 'event not understood, skipped');
        }
      }
    })();
  }

  /** Live events from now on. */
  onEvent(listener: Listener<FeedEvent>): () => void {
    this.live.add(listener);
    return () => this.live.delete(listener);
  }

  onRevoked(listener: Listener<string>): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  isRevoked(jti: string): boolean {
    return this.revoked.has(jti);
  }

  /** The oldest event the stream still holds. */
  async firstSeq(): Promise<number> {
    return (await (await jetstreamManager(this.options.nats)).streams.info(this.names.eventsStream)).state.first_seq;
  }

  /** Events from a position on, for a subscription that resumes: its own ordered consumer, which then follows the live stream. */
  async replay(fromSeq: number, listener: Listener<FeedEvent>): Promise<() => Promise<void>> {
    const consumer = await jetstream(this.options.nats).consumers.get(this.names.eventsStream, {
      filter_subjects: this.names.eventsSubjects,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
    });
    const messages = await consumer.consume();
    this.pump(messages, (message) => listener({ seq: message.seq, event: message.json<TwinEvent>() }));
    return async () => void (await messages.close());
  }

  async stop(): Promise<void> {
    for (const feed of this.feeds) await feed.close();
  }
}
