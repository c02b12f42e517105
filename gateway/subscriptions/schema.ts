import {
  extendSchema,
  GraphQLError,
  Kind,
  parse,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLScalarType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { WebSocket } from 'ws';
import { decodePositionCursor, encodeCursor } from '../../lib/cursor.ts';
import { ErrorCode, TwinxError } from '../../lib/errors.ts';
import { DateTimeScalar } from '../../lib/graphql/scalars.ts';
import type { TwinDisruptionEvent, TwinEvent } from '../../lib/events.ts';
import { canReach, reachOf, type Reach } from '../../lib/tokens/reach.ts';
import { closedFor, type PresentedToken } from '../../lib/tokens/network.ts';
import { TokenProblem, unauthenticated } from '../../lib/tokens/tokens.ts';
import { selectionText, twinField, twinQuery, twinSelections, type TwinQuery } from '../twin-query.ts';
import type { ImpactAnswer } from '../../lib/impact/types.ts';
import { impactOf } from '../impact/schema.ts';
import type { EventHub, FeedEvent, Follower } from './hub.ts';
import type { DisruptionItem, ImpactWarnings } from './impact.ts';

/** The gateway's own subscriptions: the JS gateway composes queries and mutations only. */
const SUBSCRIPTION_SDL = /* GraphQL */ `
  enum TwinEventType {
    "The twin's state moved forward."
    STATE
    "The twin went into alert (sent after its STATE event)."
    ALERT
    CREATED
    UPDATED
    DELETED
    "One of the twin's alarms changed (needs analytics:read on the twin besides twins:subscribe)."
    ALARM
    "The twin's output is disrupted, or no longer, and that hits twins the subscription selects, as far as the subscriber's tokens follow the supply chain."
    IMPACT
  }

  enum DisruptionCause {
    "A failure of the twin was recorded: it stopped."
    STOPPED
    "An alarm of severity HIGH or CRITICAL: as if the twin stopped now."
    ALARM
    "The twin's predicted failure (p50 of its remaining useful life)."
    PREDICTED_FAILURE
  }

  enum DisruptionState {
    OPEN
    "The cause is gone: take back the impact announced when it opened."
    CLEARED
  }

  "A disruption of a twin's output, as its owner announced it."
  type DisruptionNotice {
    id: ID!
    cause: DisruptionCause!
    state: DisruptionState!
    twinId: ID!
    from: DateTime!
    to: DateTime!
    "Share of its output the twin keeps over [from, to) (0: stopped)."
    capacity: Float!
  }

  "Which events: of these twins, organizations, kinds (an IMPACT event: hitting such a twin, or of one), of these types (default all, IMPACT included)."
  input TwinEventFilter {
    twinIds: [ID!]
    orgs: [String!]
    kinds: [String!]
    types: [TwinEventType!]
  }

  type TwinEvent {
    "Where this event is in the network's event stream: resume after it with twinEvents(after: cursor)."
    cursor: String!
    type: TwinEventType!
    at: DateTime!
    twinId: ID!
    org: String!
    "The twin's state after the change (STATE and ALERT events)."
    state: TwinState
    "The alarm after the change (ALARM events)."
    alarm: Alarm
    "What happened to the alarm (ALARM events)."
    alarmChange: AlarmChangeType
    "The disruption (IMPACT events)."
    disruption: DisruptionNotice
    "Its impact downstream over the disruption's window (fixed when it opened), with the supply data as it is now, as far as the subscriber's tokens reach (IMPACT events). A CLEARED event comes to every subscription that received its OPEN event, even if its impact no longer hits a twin it selects."
    impact: Impact
    "The twin, from the network graph with the subscriber's own tokens (null once it is deleted)."
    twin: Twin
  }

  type Subscription {
    "Events about the twins the caller may subscribe to (twins:subscribe), as they happen, or from just after a cursor."
    twinEvents(filter: TwinEventFilter, after: String): TwinEvent!
  }

  extend schema {
    subscription: Subscription
  }
`;

const CURSOR = 'event';

/** A catalogue error as a subscription result carries it (no HTTP status: this is a WebSocket). */
export function failure(error: TwinxError): GraphQLError {
  return new GraphQLError(error.message, { extensions: { ...error.details, code: error.code } });
}

/** What a subscription knows of its connection. */
export interface SubscriptionContext {
  tokens: PresentedToken[];
  socket: WebSocket;
  /** The subscription's id on its connection (graphql-ws). */
  id: string;
  /**
   * Subscriptions of its connection that resumed after a cursor (each replays with a consumer of
   * its own until it has caught up), counted until they end.
   */
  replays: { count: number };
}

export interface SubscriptionDeps {
  hub: EventHub;
  /** Subscriptions resuming after a cursor one connection may hold at once. */
  maxReplaysPerConnection: number;
  /** Events a subscription may hold not yet sent (behind a warning being computed) before it is closed as too slow. */
  maxPendingEvents: number;
  /**
   * Why the connection's tokens no longer count (revoked, key retired, issuer or holder
   * suspended since the connection was opened), or null: checked for every new subscription.
   */
  refusal: (tokens: readonly PresentedToken[]) => Promise<{ problem: TokenProblem; token: PresentedToken } | null>;
  /** Runs the query of an event's `twin { … }` selections through the network graph, with the subscriber's tokens; its data. */
  resolveTwins: (query: string, variables: Record<string, unknown>, tokens: PresentedToken[]) => Promise<Record<string, unknown>>;
  /** The impacts of disruptions, computed with subscribers' tokens. */
  impacts: ImpactWarnings;
}

interface Filter {
  twinIds?: string[] | null;
  orgs?: string[] | null;
  kinds?: string[] | null;
  types?: string[] | null;
}

function typeOf(event: TwinEvent): string {
  if (event.type === 'disruption') return 'IMPACT';
  return event.type === 'twin' ? event.change.toUpperCase() : event.type.toUpperCase();
}

/** Whether the subscriber may see the event: its twin within `twins:subscribe`, and alarms within `analytics:read` too. */
function reaches(subscribe: Reach, analytics: Reach, event: TwinEvent): boolean {
  const twin = { id: event.twinId, org: event.org, kind: event.kind, tags: event.tags };
  return canReach(subscribe, twin) && (event.type !== 'alarm' || canReach(analytics, twin));
}

/**
 * Whether the subscriber may hear of a disruption at all: one caused by an alarm or a predicted
 * failure tells of the alarm (and its window of the twin's remaining life), so it needs
 * `analytics:read` on the disrupted twin, as the alarm does; a stop needs only what its impact needs.
 */
function mayHear(analytics: Reach, event: TwinDisruptionEvent): boolean {
  return event.disruption.cause === 'STOPPED' || canReach(analytics, { id: event.twinId, org: event.org, kind: event.kind, tags: event.tags });
}

function matches(filter: Filter | null | undefined, event: TwinEvent): boolean {
  return (
    (!filter?.twinIds?.length || filter.twinIds.includes(event.twinId)) &&
    (!filter?.orgs?.length || filter.orgs.includes(event.org)) &&
    (!filter?.kinds?.length || filter.kinds.includes(event.kind)) &&
    (!filter?.types?.length || filter.types.includes(typeOf(event)))
  );
}

/** The longest delay `setTimeout` takes (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Runs `run` at `time` (ms), however far off (tokens live up to 366 days); returns its cancellation. */
function when(time: number, run: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const wait = time - Date.now();
    timer = wait > MAX_TIMEOUT_MS ? setTimeout(arm, MAX_TIMEOUT_MS) : setTimeout(run, Math.max(0, wait));
  };
  arm();
  return () => clearTimeout(timer);
}

/** A disruption as delivered to a subscriber: with its impact as far as the subscriber's tokens reach. */
type ImpactItem = FeedEvent & { impact: ImpactAnswer };

/** What a channel holds: an event, a last error, or an event still being made (null: none after all). */
type Entry = FeedEvent | GraphQLError | Promise<FeedEvent | null>;

/** Disruptions a channel remembers having delivered OPEN, so as to deliver their CLEARED (the latest kept). */
const MAX_OPENED = 1000;

/**
 * A subscription's events, queued and read as an async iterator; `fail` ends it with an error
 * event. An event still being made (an IMPACT) holds back those after it, so that each
 * subscriber receives its events in stream order. It knows its position in the event stream,
 * and whether it follows the live feed.
 */
export class Channel implements AsyncIterableIterator<FeedEvent | GraphQLError>, Follower {
  private readonly items: Entry[] = [];
  private waiting?: () => void;
  private done = false;
  private finishAfterPending = false;
  private drained: (() => void)[] = [];
  private wentLive: (() => void)[] = [];
  /** The stream position up to which its events are replayed ones (after a cursor). */
  replayedUpTo: number;
  /** Ended holding `maxPending` events: its subscribers do not keep up (or an event is slow to make). */
  overflowed = false;

  constructor(
    private readonly onClose: () => void,
    /** The stream position of the last event taken (before any: where it starts). */
    public position: number,
    /** Follows the live stream (not replaying after a cursor), so identical subscriptions can share it. */
    public live: boolean,
    /** Events it holds at most: one more ends it as too slow (its subscribers resume after their last cursor). */
    private readonly maxPending: number,
  ) {
    this.replayedUpTo = live ? 0 : Infinity;
  }

  push(item: Entry): void {
    if (this.done) return;
    if (this.items.length >= this.maxPending) {
      this.overflowed = true;
      void this.return();
      return;
    }
    this.items.push(item);
    this.wake();
  }

  /** Delivers one last result carrying the error, then ends. */
  fail(error: GraphQLError): void {
    this.push(error);
    this.finishAfterPending = true;
  }

  taken(): Promise<void> {
    if (this.items.length === 0 || this.done) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  goLive(replayedUpTo: number): void {
    this.live = true;
    this.replayedUpTo = replayedUpTo;
    for (const run of this.wentLive.splice(0)) run();
  }

  /** Runs `run` once its events come from the live feed (now, if they do). */
  whenLive(run: () => void): void {
    if (this.live) run();
    else this.wentLive.push(run);
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  async next(): Promise<IteratorResult<FeedEvent | GraphQLError>> {
    for (;;) {
      if (this.done) return { value: undefined, done: true };
      const entry = this.items[0];
      if (entry === undefined) {
        if (this.finishAfterPending) return this.return();
        await new Promise<void>((resolve) => (this.waiting = resolve));
        continue;
      }
      // Left at the head while it is being made: what follows waits for it, and so does `taken`.
      const item = entry instanceof Promise ? await entry : entry;
      if (this.done) return { value: undefined, done: true };
      this.items.shift();
      if (item !== null && !(item instanceof GraphQLError)) this.position = item.seq;
      if (this.items.length === 0) for (const resolve of this.drained.splice(0)) resolve();
      if (item !== null) return { value: item, done: false };
    }
  }

  return(): Promise<IteratorResult<FeedEvent | GraphQLError>> {
    if (!this.done) {
      this.done = true;
      this.onClose();
      this.wake();
      for (const resolve of this.drained.splice(0)) resolve();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

/** Refuses a subscription selecting more distinct `twin { … }` than `max`: each is a federated query per event. */
export function twinSelectionsError(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, max: number): GraphQLError | undefined {
  const fragments = Object.fromEntries(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const actual = twinSelections(schema, operation, fragments, 'TwinEvent').size;
  if (actual <= max) return undefined;
  return new GraphQLError(`${actual} different twin { … } selections exceed the limit of ${max}: each is a query per event.`, {
    nodes: operation,
    extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'twins', limit: max, actual },
  });
}

/**
 * The schema subscriptions run on: the network graph's API schema (so that `twin { … }` can
 * select anything a query can) extended with the gateway's `Subscription`.
 */
export function subscriptionSchema(apiSchema: GraphQLSchema, deps: SubscriptionDeps): GraphQLSchema {
  const schema = extendSchema(apiSchema, parse(SUBSCRIPTION_SDL));
  // The network graph's DateTime passes subgraphs' values through; events' times (written by
  // organizations' stores in other spellings) are served as the subgraphs serve theirs.
  // extendSchema made this type for this schema only.
  (schema.getType('DateTime') as GraphQLScalarType).serialize = DateTimeScalar.serialize;
  const field = schema.getSubscriptionType()!.getFields().twinEvents!;

  field.subscribe = (async (_: unknown, args: { filter?: Filter; after?: string | null }, ctx: SubscriptionContext) => {
    const refusal = await deps.refusal(ctx.tokens);
    if (refusal) throw failure(unauthenticated(refusal.problem, refusal.token));
    const reach = reachOf(ctx.tokens, 'twins:subscribe');
    const analytics = reachOf(ctx.tokens, 'analytics:read');
    if (reach.size === 0) throw failure(new TwinxError(ErrorCode.FORBIDDEN, 'Subscribing needs the twins:subscribe scope.', { scope: 'twins:subscribe' }));
    let from: number | null = null;
    if (args.after) {
      let seq: number;
      try {
        seq = decodePositionCursor(CURSOR, args.after);
      } catch (error) {
        throw failure(error as TwinxError);
      }
      const firstSeq = await deps.hub.firstSeq().catch((error: unknown) => {
        throw failure(error as TwinxError);
      });
      if (seq + 1 < firstSeq) {
        throw failure(
          new TwinxError(ErrorCode.CURSOR_EXPIRED, 'The events after this cursor are no longer kept: subscribe without `after` and reload the state.', {
            field: 'after',
          }),
        );
      }
      from = seq + 1;
    }
    const { replays } = ctx;
    if (from !== null && replays.count >= deps.maxReplaysPerConnection) {
      const limit = deps.maxReplaysPerConnection;
      throw failure(new TwinxError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${limit} resuming subscriptions per connection.`, { kind: 'replays', limit }));
    }

    const cleanups: (() => unknown)[] = [];
    const channel = new Channel(
      () => cleanups.forEach((cleanup) => void cleanup()),
      from === null ? deps.hub.position : from - 1,
      from === null,
      deps.maxPendingEvents,
    );
    /** The disruptions this channel delivered OPEN (by organization and id), whether it did once made. */
    const opened = new Map<string, Promise<boolean>>();
    const deliver = (item: FeedEvent) => {
      const { event } = item;
      if (event.type !== 'disruption') {
        if (matches(args.filter, event) && reaches(reach, analytics, event)) channel.push(item);
      } else if ((!args.filter?.types?.length || args.filter.types.includes('IMPACT')) && mayHear(analytics, event)) {
        // Delivered if its impact, as far as the subscriber's tokens follow the supply chain, hits
        // a twin the subscription selects, or if it clears one delivered OPEN; the events after it wait for it.
        const key = `${event.org}\u0000${event.disruption.id}`;
        const clears = (event.disruption.state === 'CLEARED' && opened.get(key)) || false;
        opened.delete(key);
        const delivered = deps.impacts
          .forSubscription(item as DisruptionItem, ctx.tokens, args.filter, reach, clears)
          .then((impact) => impact && { ...item, impact });
        if (event.disruption.state === 'OPEN') {
          opened.set(
            key,
            delivered.then((made) => made !== null),
          );
          if (opened.size > MAX_OPENED) opened.delete(opened.keys().next().value!);
        }
        channel.push(delivered);
      }
    };
    cleanups.push(
      deps.hub.onClosed((closed) => {
        for (const token of ctx.tokens) {
          const problem = closedFor(closed, token);
          if (problem) return channel.fail(failure(unauthenticated(problem, token)));
        }
      }),
    );
    // A subscription holds a token at least (its reach is not empty): the one to expire first ends it.
    const soonest = ctx.tokens.reduce((first, token) => (token.expiresAt < first.expiresAt ? token : first));
    cleanups.push(when(soonest.expiresAt.getTime(), () => channel.fail(failure(unauthenticated(TokenProblem.EXPIRED, soonest)))));
    if (from === null) cleanups.push(deps.hub.onEvent(deliver));
    else {
      // Counted until the subscription ends, in whichever group (SubscriptionGroups).
      replays.count++;
      try {
        cleanups.push(await deps.hub.replay(from, { push: deliver, taken: () => channel.taken(), goLive: (upTo) => channel.goLive(upTo) }));
      } catch (error) {
        replays.count--;
        void channel.return();
        throw failure(error as TwinxError);
      }
    }
    return channel;
  }) as GraphQLFieldResolver<unknown, SubscriptionContext>;

  field.resolve = (item: FeedEvent | ImpactItem | GraphQLError) => {
    if (item instanceof GraphQLError) throw item;
    const { event, seq } = item;
    return {
      cursor: encodeCursor(CURSOR, String(seq)),
      type: typeOf(event),
      at: event.at,
      twinId: event.twinId,
      org: event.org,
      state: event.type === 'state' || event.type === 'alert' ? event.state : null,
      alarm: event.type === 'alarm' ? event.alarm : null,
      alarmChange: event.type === 'alarm' ? event.change.toUpperCase() : null,
      disruption: event.type === 'disruption' ? { ...event.disruption, twinId: event.twinId } : null,
      impact: 'impact' in item ? impactOf(item.impact) : null,
      event,
    };
  };

  /** Each operation's query for its distinct `twin { … }` selections, and their order in it. */
  const queries = new WeakMap<OperationDefinitionNode, { order: string[] } & TwinQuery>();
  const queryOf = (info: GraphQLResolveInfo) => {
    let built = queries.get(info.operation);
    if (!built) {
      const selections = twinSelections(info.schema, info.operation, info.fragments, 'TwinEvent');
      built = { order: [...selections.keys()], ...twinQuery([...selections.values()], info, 1) };
      queries.set(info.operation, built);
    }
    return built;
  };
  /** Each event's twins: that query, asked once per event. */
  const fetched = new WeakMap<object, { order: string[]; data: Promise<Record<string, unknown>> }>();
  const eventType = schema.getType('TwinEvent') as { getFields(): Record<string, { resolve?: GraphQLFieldResolver<unknown, SubscriptionContext> }> };
  eventType.getFields().twin!.resolve = async (source, _args, ctx, info) => {
    const { event } = source as { event: TwinEvent };
    if (event.type === 'twin' && event.change === 'deleted') return null;
    let twins = fetched.get(source as object);
    if (!twins) {
      const { order, query, variables, idVariable } = queryOf(info);
      twins = { order, data: deps.resolveTwins(query, { ...variables, [idVariable(0)]: event.twinId }, ctx.tokens) };
      fetched.set(source as object, twins);
    }
    return (await twins.data)[twinField(twins.order.indexOf(selectionText(info.fieldNodes)), 0)] ?? null;
  };
  return schema;
}
