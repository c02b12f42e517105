import { createSourceEventStream, execute, GraphQLError, print, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { WebSocket } from 'ws';
import { ErrorCode, TwinxError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { GatewayMetrics } from '../../lib/metrics.ts';
import type { PresentedToken } from '../../lib/tokens/network.ts';
import type { AccessReporter } from '../access-reports.ts';
import type { FeedEvent } from './hub.ts';
import { responseKeyResolver, type Channel, type SubscriptionContext } from './schema.ts';

/** WebSocket close code for a subscriber that does not keep up (4000–4999: application codes). */
export const SLOW_CONSUMER = 4408;

/** One subscription of one connection, as a group sends to it. */
interface Member {
  socket: WebSocket;
  /** The start of its `next` frames, up to the payload: `{"id":…,"type":"next","payload":`. */
  prefix: string;
  /** Ends the subscription (graphql-ws then sends `complete`). */
  finish(): void;
}

interface GroupOptions {
  /** Bytes a connection may have waiting to be sent before it is closed as too slow. */
  maxBufferedBytes: number;
  /** Tells the twins' owners what their partners received. */
  reporter: AccessReporter;
  /** Counts deliveries and their lag. */
  metrics: GatewayMetrics;
  logger: Logger;
}

/**
 * Subscriptions that asked the same thing with the same tokens, sharing one source of events:
 * each event is filtered, authorized, executed and serialized once for all of them, and each
 * subscriber then costs one frame built from that serialization.
 */
class Group {
  private readonly members = new Set<Member>();
  private closed = false;

  constructor(
    readonly schema: GraphQLSchema,
    private readonly tokens: readonly PresentedToken[],
    private readonly source: Channel<FeedEvent>,
    private readonly run: (payload: FeedEvent | GraphQLError) => Promise<ExecutionResult> | ExecutionResult,
    private readonly options: GroupOptions,
    private readonly onClose: () => void,
  ) {
    void this.pump();
  }

  get open(): boolean {
    return !this.closed;
  }

  /**
   * Adds a subscription; what graphql-ws gets back ends when the group does (revocation, expiry,
   * too slow) or when the subscriber completes it.
   */
  join(socket: WebSocket, id: string, onLeave: () => void): AsyncIterableIterator<ExecutionResult> {
    let ended: ((result: IteratorResult<ExecutionResult>) => void) | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      onLeave();
      this.leave(member);
      ended?.({ value: undefined, done: true });
    };
    const member: Member = { socket, prefix: `{"id":${JSON.stringify(id)},"type":"next","payload":`, finish };
    this.members.add(member);
    return {
      // Results are sent by the group, straight to the socket: this only waits for the end.
      next: () => (done ? Promise.resolve({ value: undefined, done: true }) : new Promise((resolve) => (ended = resolve))),
      return: () => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private leave(member: Member): void {
    this.members.delete(member);
    if (this.members.size === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    void this.source.return();
  }

  private async pump(): Promise<void> {
    try {
      for await (const payload of this.source) {
        // An error is the last result (revoked, expired): later subscriptions start afresh, and are refused.
        if (payload instanceof GraphQLError) this.close();
        const result = await this.run(payload);
        // The same text graphql-ws would send (GraphQLError serializes through its toJSON).
        const json = JSON.stringify(result);
        let sent = 0;
        for (const member of this.members) if (this.send(member, json)) sent++;
        if (!(payload instanceof GraphQLError)) {
          this.options.reporter.delivered(this.tokens, payload.event, sent);
          if (sent > 0) this.options.metrics.delivered(payload.event, sent, !this.source.live);
        }
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'subscription results could not be made; its subscribers are told and ended');
      const json = JSON.stringify({ errors: [new TwinxError(ErrorCode.INTERNAL, 'The subscription failed; subscribe again.').toGraphQLError()] });
      for (const member of this.members) this.send(member, json);
    } finally {
      this.close();
      for (const member of this.members) member.finish();
    }
  }

  /** Sends a result to one subscriber; false when it could not take it. */
  private send(member: Member, json: string): boolean {
    const { socket } = member;
    if (socket.readyState !== socket.OPEN) return false;
    if (socket.bufferedAmount > this.options.maxBufferedBytes) {
      // A subscriber that cannot keep up is cut off, so that it never holds the others back; it
      // can resume after the last cursor it received.
      socket.close(SLOW_CONSUMER, 'too slow: the connection does not keep up with its events');
      member.finish();
      return false;
    }
    socket.send(`${member.prefix}${json}}`);
    return true;
  }
}

/**
 * graphql-ws's `subscribe`: live subscriptions with the same document, variables and tokens
 * (tokens only matter to `twin { … }`, but they are always part of the key, to keep that simple
 * and safe) join one group, so that with a thousand dashboards on one machine's events the work
 * per event is done once, not a thousand times. A subscription resuming after a cursor has a
 * group of its own: its events are not the live ones.
 */
export class SubscriptionGroups {
  private readonly groups = new Map<string, Group>();
  private members = 0;

  constructor(private readonly options: GroupOptions) {}

  /** Subscriptions being served. */
  get subscriptions(): number {
    return this.members;
  }

  readonly subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const { tokens, socket, id } = args.contextValue as SubscriptionContext;
    const key = `${print(args.document)}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}\u0000${tokens.map((t) => t.token).join(',')}`;
    let group = this.groups.get(key);
    if (!group?.open || group.schema !== args.schema) {
      // Also authorizes the subscription and checks its arguments (the field's subscribe).
      const source = await createSourceEventStream({ ...args, fieldResolver: responseKeyResolver });
      if (!(Symbol.asyncIterator in source)) return source;
      const channel = source as Channel<FeedEvent>;
      const created: Group = new Group(
        args.schema,
        tokens,
        channel,
        (payload) => execute({ ...args, rootValue: payload, fieldResolver: responseKeyResolver }),
        this.options,
        () => this.groups.get(key) === created && this.groups.delete(key),
      );
      if (channel.live) this.groups.set(key, created);
      group = created;
    }
    this.members++;
    return group.join(socket, id, () => this.members--);
  };
}
