import {
  createSourceEventStream,
  execute,
  GraphQLError,
  Kind,
  print,
  visit,
  type ArgumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import type { WebSocket } from 'ws';
import { ErrorCode, TwinxError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { GatewayMetrics } from '../../lib/metrics.ts';
import type { PresentedToken } from '../../lib/tokens/network.ts';
import type { AccessReporter } from '../access-reports.ts';
import type { FeedEvent } from './hub.ts';
import { responseKeyResolver } from '../twin-query.ts';
import type { Channel, SubscriptionContext } from './schema.ts';

/** WebSocket close code for a subscriber that does not keep up (4000–4999: application codes). */
export const SLOW_CONSUMER = 4408;

/** Closes a connection that does not keep up with its events; its subscriptions resume after the last cursor they received. */
export function closeSlow(socket: WebSocket): void {
  socket.close(SLOW_CONSUMER, 'too slow: the connection does not keep up with its events');
}

/** One subscription of one connection, as a group sends to it. */
interface Member {
  socket: WebSocket;
  /** The start of its `next` frames, up to the payload: `{"id":…,"type":"next","payload":`. */
  prefix: string;
  /** The group sending to it (it moves once it has caught up with the live feed). */
  group: Group;
  /** The stream position up to which a group it was in before sent it the events. */
  after: number;
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
  /** The stream position of the last event this group sent. */
  private sent: number;

  constructor(
    readonly schema: GraphQLSchema,
    /** What its subscriptions share (see `sharedKey`). */
    readonly key: string,
    private readonly tokens: readonly PresentedToken[],
    private readonly source: Channel,
    private readonly run: (payload: FeedEvent | GraphQLError) => Promise<ExecutionResult> | ExecutionResult,
    private readonly groups: SubscriptionGroups,
    private readonly options: GroupOptions,
  ) {
    this.sent = source.position;
    void this.pump();
  }

  get open(): boolean {
    return !this.closed;
  }

  /** Its events come from the live feed: a new identical subscription joins it. */
  get live(): boolean {
    return this.source.live;
  }

  /**
   * Adds a subscription; what graphql-ws gets back ends when its group does (revocation, expiry,
   * too slow) or when the subscriber completes it.
   */
  join(socket: WebSocket, id: string, onLeave: () => void): AsyncIterableIterator<ExecutionResult> {
    let ended: ((result: IteratorResult<ExecutionResult>) => void) | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      onLeave();
      member.group.leave(member);
      ended?.({ value: undefined, done: true });
    };
    const member: Member = { socket, prefix: `{"id":${JSON.stringify(id)},"type":"next","payload":`, group: this, after: 0, finish };
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

  /**
   * Hands this group's subscribers to an identical group that has taken no event this one has
   * not sent, each then receiving the events after this one's last (by stream position: none
   * missed, none twice), and ends. A live group takes over from one behind it (a replay that
   * has caught up); groups at the same position merge whatever their source (subscriptions
   * resuming from the same cursor replay once). Checked whenever this group has sent an event.
   */
  handOver(): void {
    if (this.closed) return;
    const target = this.groups.identical(this).find(({ source }) => this.sent === source.position || (source.live && this.sent > source.position));
    if (!target) return;
    for (const member of this.members) target.adopt(member, this.sent);
    this.members.clear();
    this.close();
  }

  private adopt(member: Member, after: number): void {
    member.group = this;
    member.after = after;
    this.members.add(member);
  }

  private leave(member: Member): void {
    this.members.delete(member);
    if (this.members.size === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.groups.closed(this);
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
        for (const member of this.members) if ((payload instanceof GraphQLError || payload.seq > member.after) && this.send(member, json)) sent++;
        if (!(payload instanceof GraphQLError)) {
          this.sent = payload.seq;
          this.options.reporter.delivered(this.tokens, payload.event, sent);
          if (sent > 0) this.options.metrics.delivered(payload.event, sent, payload.seq <= this.source.replayedUpTo);
          this.handOver();
        }
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'subscription results could not be made; its subscribers are told and ended');
      const json = JSON.stringify({ errors: [new TwinxError(ErrorCode.INTERNAL, 'The subscription failed; subscribe again.').toGraphQLError()] });
      for (const member of this.members) this.send(member, json);
    } finally {
      // Its events piled up: its subscribers are cut off as too slow, and resume after their last cursor.
      if (this.source.overflowed) for (const member of this.members) closeSlow(member.socket);
      this.close();
      for (const member of this.members) member.finish();
    }
  }

  /** Sends a result to one subscriber; false when it could not take it. */
  private send(member: Member, json: string): boolean {
    const { socket } = member;
    if (socket.readyState !== socket.OPEN) return false;
    if (socket.bufferedAmount > this.options.maxBufferedBytes) {
      // A subscriber that cannot keep up is cut off, so that it never holds the others back.
      closeSlow(socket);
      member.finish();
      return false;
    }
    socket.send(`${member.prefix}${json}}`);
    return true;
  }
}

/**
 * What identical subscriptions have in common: document, operation, variables and tokens, all
 * but where they start. `after` only chooses the events (their results do not depend on it), so
 * it is left out, with its variable unless anything else uses that; `resumes` when it is given.
 */
function sharedKey(args: ExecutionArgs, tokens: readonly PresentedToken[]): { key: string; resumes: boolean } {
  let after: string | undefined;
  let resumes = false;
  const startsAt = (argument: ArgumentNode) => {
    if (argument.name.value !== 'after') return false;
    if (argument.value.kind === Kind.VARIABLE) after = argument.value.name.value;
    // As the field reads it: an empty cursor is none.
    resumes = Boolean(after === undefined ? argument.value.kind === Kind.STRING && argument.value.value : args.variableValues?.[after]);
    return true;
  };
  const document = visit(args.document, {
    OperationDefinition: (operation) => ({
      ...operation,
      selectionSet: {
        ...operation.selectionSet,
        selections: operation.selectionSet.selections.map((selection) =>
          selection.kind === Kind.FIELD ? { ...selection, arguments: selection.arguments?.filter((argument) => !startsAt(argument)) } : selection,
        ),
      },
    }),
  });
  let used = false;
  visit(document, { VariableDefinition: () => false, Variable: (variable) => void (variable.name.value === after && (used = true)) });
  const variables = { ...args.variableValues };
  if (after !== undefined && !used) delete variables[after];
  return { key: `${print(document)}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(variables)}\u0000${tokens.map((t) => t.token).join(',')}`, resumes };
}

/**
 * graphql-ws's `subscribe`: live subscriptions with the same document, variables and tokens
 * (tokens only matter to `twin { … }`, but they are always part of the key, to keep that simple
 * and safe) join one group, so that with a thousand dashboards on one machine's events the work
 * per event is done once, not a thousand times. A subscription resuming after a cursor has a
 * group of its own while it replays (shared with those resuming from the same position), and
 * joins the live one once it has caught up.
 */
export class SubscriptionGroups {
  /** Open groups, by what their subscriptions share. */
  private readonly groups = new Map<string, Set<Group>>();
  private members = 0;

  constructor(private readonly options: GroupOptions) {}

  /** Subscriptions being served. */
  get subscriptions(): number {
    return this.members;
  }

  /** Executions of events running (one per group): one per distinct live subscription, one per replay not merged yet. */
  get executions(): number {
    return [...this.groups.values()].reduce((sum, groups) => sum + groups.size, 0);
  }

  /** The open groups serving `key` on `schema`. */
  private serving(key: string, schema: GraphQLSchema): Group[] {
    return [...(this.groups.get(key) ?? [])].filter((group) => group.open && group.schema === schema);
  }

  /** The other open groups serving what `group` serves. */
  identical(group: Group): Group[] {
    return this.serving(group.key, group.schema).filter((other) => other !== group);
  }

  closed(group: Group): void {
    const groups = this.groups.get(group.key)!;
    groups.delete(group);
    if (groups.size === 0) this.groups.delete(group.key);
  }

  readonly subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const { tokens, socket, id, replays } = args.contextValue as SubscriptionContext;
    const { key, resumes } = sharedKey(args, tokens);
    const leave = () => {
      this.members--;
      if (resumes) replays.count--;
    };
    const shared = resumes ? undefined : this.serving(key, args.schema).find((group) => group.live);
    if (shared) {
      this.members++;
      return shared.join(socket, id, leave);
    }
    // Also authorizes the subscription and checks its arguments (the field's subscribe).
    const source = await createSourceEventStream({ ...args, fieldResolver: responseKeyResolver });
    if (!(Symbol.asyncIterator in source)) return source;
    const channel = source as Channel;
    const run = (payload: FeedEvent | GraphQLError) => execute({ ...args, rootValue: payload, fieldResolver: responseKeyResolver });
    const group = new Group(args.schema, key, tokens, channel, run, this, this.options);
    this.groups.set(key, (this.groups.get(key) ?? new Set()).add(group));
    this.members++;
    const joined = group.join(socket, id, leave);
    group.handOver();
    channel.whenLive(() => group.handOver());
    return joined;
  };
}
