import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { execute, getOperationAST, GraphQLError, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { ErrorCode, TwinxError } from '../lib/errors.ts';
import { apolloServerOptions } from '../lib/graphql/apollo-features.ts';
import { formatError } from '../lib/graphql/errors.ts';
import { inputPlugin } from '../lib/graphql/input.ts';
import { operationLimitError, queryLimitsPlugin, sourceLimitError, type CostOptions, type LimitSettings, type QueryLimits } from '../lib/graphql/limits.ts';
import { twinQueryLimits } from '../lib/graphql/twin-types.ts';
import { graphqlHandler, listen, sendJson } from '../lib/http.ts';
import { RateLimiter, takeAll, type RateLimitOptions } from '../lib/rate-limit.ts';
import type { Logger } from '../lib/logger.ts';
import { GatewayMetrics, type MetricsListen } from '../lib/metrics.ts';
import { RejectedMessage, verifyMessage } from '../lib/bus/signing.ts';
import { OPERATOR } from '../lib/ids.ts';
import type { Subscription } from '@nats-io/transport-node';
import { natsConnected, natsNames, type NatsConnection } from '../lib/nats.ts';
import { connectionHeaders, presentedKinds, presentedTokens, type Presented } from '../lib/tokens/headers.ts';
import { KeyFile } from '../lib/tokens/key-file.ts';
import { NetworkKeys, verifyNetworkTokens, type NetworkTokens, type PresentedToken } from '../lib/tokens/network.ts';
import { issuerUnavailable, TokenProblem, unauthenticated } from '../lib/tokens/tokens.ts';
import { reachOf } from '../lib/tokens/reach.ts';
import { readMembersAccess } from '../lib/tokens/revocations.ts';
import { AccessReporter } from './access-reports.ts';
import { consoleDirectory, consoleRoute, personasRoute, type Persona } from './console/serve.ts';
import { SubgraphDataSource } from './data-source.ts';
import { RegistrySupergraph, type Member, type RegistryView } from './supergraph.ts';
import { EventHub } from './subscriptions/hub.ts';
import { SubscriptionGroups } from './subscriptions/fanout.ts';
import { keepAlive } from './subscriptions/keep-alive.ts';
import { ImpactOrchestrator, type NetworkAnswer } from './impact/orchestrator.ts';
import { impactFieldCost, impactListSize, impactSchema, type ImpactSchemaDeps } from './impact/schema.ts';
import { ImpactWarnings } from './subscriptions/impact.ts';
import { withGatewayFields } from './own-fields.ts';
import { failure, subscriptionSchema, twinSelectionsError, type SubscriptionContext } from './subscriptions/schema.ts';
import { responseKeyResolver } from './twin-query.ts';

/** What the gateway knows of a request: its verified tokens. */
export interface GatewayContext {
  tokens: PresentedToken[];
  /** Issuers of the tokens set aside for this request (unreachable, their keys unknown): said in the answer's `warnings`. */
  setAside?: string[];
}

/** Close code of a subscription connection whose every token's issuer is unreachable (as HTTP 503): retry later. */
export const ISSUER_UNAVAILABLE = 4503;

export interface GatewayOptions {
  /** The directory's GraphQL URL. */
  directoryUrl: string;
  nats: NatsConnection;
  subjectPrefix: string;
  logger: Logger;
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Browser origins allowed to call it (CORS, see `graphqlHandler`). @default [] (same origin only) */
  corsOrigins?: readonly string[];
  /**
   * Longest wait for one subgraph's answer, in ms; then that subgraph's part of the answer is
   * an error and the rest of the network still answers.
   * @default 5000
   */
  subgraphTimeoutMs?: number;
  /**
   * Bytes of one subgraph's answers the gateway reads at once; past it, the answer being read is
   * dropped and that subgraph's part of its request is `UNAVAILABLE`.
   * @default 128 MiB (gateway/data-source.ts)
   */
  maxAnswerBytesInFlight?: number;
  /**
   * Whether identical queries in flight at once to one subgraph share one request: same
   * operation, variables and forwarded tokens (mutations never do); each caller still gets its
   * own copy of the answer.
   * @default true
   */
  dedupe?: boolean;
  /** Query limits (lib/graphql/limits.ts), each replacing its default. @default { maxTokens: 10000, maxDepth: 12, maxCost: 20000, defaultListSize: 50 } */
  limits?: LimitSettings;
  /** How often the registry is re-read besides when told of a change, and members whose keys could not be read are read again. @default 5000 */
  pollMs?: number;
  /** How often members' revocation lists are read besides when they join. @default 60000 */
  revocationsPollMs?: number;
  /**
   * Bytes a subscriber's connection may have waiting to be sent; a slower one is closed (4408).
   * @default 1 MiB
   */
  maxBufferedBytes?: number;
  /**
   * How often each WebSocket connection is pinged, in ms: one that has not answered by the next
   * ping is closed, with 4408 if it was sent events meanwhile (too slow), otherwise as gone.
   * @default 12000
   */
  keepAliveMs?: number;
  /** Largest WebSocket message in bytes (`connection_init` with its tokens, `subscribe` with its query); a larger one closes the connection (1009). @default 256 KiB */
  maxPayloadBytes?: number;
  /** Subscriptions one connection may hold at once. @default 100 */
  maxSubscriptionsPerConnection?: number;
  /** Subscriptions resuming after a cursor (each with a consumer of its own) one connection may hold at once. @default 10 */
  maxReplaysPerConnection?: number;
  /** Events a subscription may hold not yet sent (behind an early warning being computed) before it is closed as too slow (4408). @default 1000 */
  maxPendingEvents?: number;
  /** Time an early warning has to be computed, in ms: past it, none is sent for that disruption. @default 10000 */
  impactDeadlineMs?: number;
  /** Different `twin { … }` selections one subscription may make (each is a federated query per event; aliases of the same one share it). @default 5 */
  maxTwinSelections?: number;
  /**
   * Requests (HTTP operations, subscriptions) each caller may make: keyed by its first token
   * (issuer and id), without one by its address; beyond, `RATE_LIMITED` (HTTP 429, `Retry-After`).
   * All callers whose first token one organization signed may make `ISSUER_CALLERS` times as many
   * together: a member minting a token per request is held back as its own callers, no one else.
   * @default { perSecond: 50, burst: 200 }
   */
  rateLimit?: RateLimitOptions;
  /**
   * Where the gateway keeps what it must remember between runs: members' keys (`keys.json`), so
   * that a gateway started while an organization is down still verifies that organization's tokens.
   * @default none (kept in memory only)
   */
  stateDir?: string;
  /** Names this gateway in the reports organizations receive of their partners' accesses. @default host-port */
  name?: string;
  /** How long partners' accesses are added up before they are reported to the organizations, in ms. @default 5000 */
  accessReportMs?: number;
  /** Where `/metrics` is served (lib/metrics.ts). @default { host: '127.0.0.1', port: 0 } */
  metricsListen?: MetricsListen;
  /**
   * The built console served at `/` (its files, and `index.html` for its own routes).
   * @default this package's `console/dist` when it is built; otherwise no console
   */
  consoleDir?: string;
  /**
   * People the console offers to sign in as, tokens included, at `/console/personas.json`: for
   * a demo network only, whose tokens protect nothing. @default none (404)
   */
  demoPersonas?: readonly Persona[];
}

export interface Gateway {
  readonly url: string;
  /** Where the console is served (`http://host:port/`), once started; none when there is no console to serve. */
  readonly consoleUrl: string | undefined;
  /** `http://host:port/metrics`, once started. */
  readonly metricsUrl: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How many callers' worth of requests the callers of one organization (by their first token's issuer) may make together. */
export const ISSUER_CALLERS = 20;

/** What an answer says of the tokens set aside for it. */
function setAsideWarnings(orgs: readonly string[]): { code: ErrorCode; org: string; message: string }[] {
  return orgs.map((org) => ({ code: ErrorCode.UNAVAILABLE, org, message: `${issuerUnavailable(org).message} Its tokens were not applied.` }));
}

/** Names the tokens set aside for a request in its answer's `extensions.warnings`. */
const setAsidePlugin: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue, response }) {
        if (!contextValue.setAside?.length || response.body.kind !== 'single') return;
        const { singleResult } = response.body;
        singleResult.extensions = { ...singleResult.extensions, warnings: setAsideWarnings(contextValue.setAside) };
      },
    };
  },
};

/** The supplier-network gateway: one graph over the directory and every member organization. */
export function createGateway(options: GatewayOptions): Gateway {
  const logger = options.logger.child({ service: 'gateway' });
  let registry: RegistryView = { members: [], suspended: [] };
  const memberOf = (org: string): Member | undefined => registry.members.find((member) => member.slug === org);
  const operatorJwks = new URL('/.well-known/jwks.json', options.directoryUrl).href;
  // Tokens and messages of members only: a suspended member's (and grants held by it) count for nothing.
  const keyFile = options.stateDir === undefined ? undefined : new KeyFile(join(options.stateDir, 'keys.json'), logger);
  const keys = new NetworkKeys(
    (org) => (org === OPERATOR ? operatorJwks : memberOf(org)?.jwksUrl),
    (org) => registry.suspended.includes(org),
    (org, kid) => hub.close({ kind: 'key-retired', org, kid }),
    keyFile,
  );
  const hub = new EventHub({ nats: options.nats, subjectPrefix: options.subjectPrefix, keys, logger });
  let url = '';
  const reporter = new AccessReporter({
    nats: options.nats,
    subjectPrefix: options.subjectPrefix,
    gateway: () => options.name ?? `${hostname()}-${new URL(url || 'http://localhost').port}`,
    isMember: (org) => memberOf(org) !== undefined,
    flushMs: options.accessReportMs,
    logger,
  });
  /**
   * Verifies a request's tokens (verifyNetworkTokens), each refused one reported to the
   * organization it claims to come from; a request without any is refused (`MISSING`).
   */
  const verifyTokens = async (presented: Presented): Promise<NetworkTokens> => {
    // Nothing is readable without a token (README, "Access"): no token is refused as the organizations refuse it.
    if (presentedKinds(presented).length === 0) throw unauthenticated(TokenProblem.MISSING);
    return verifyNetworkTokens(presented, keys, (token, error) => reporter.refused(token, String(error.details.reason ?? error.code)));
  };
  const rate = options.rateLimit ?? { perSecond: 50, burst: 200 };
  const limiter = new RateLimiter(rate);
  const issuers = new RateLimiter({ perSecond: rate.perSecond * ISSUER_CALLERS, burst: rate.burst * ISSUER_CALLERS });
  /** Takes `count` requests from its caller's bucket (its first token's, without one its address's) and its first token's issuer's, or from neither. */
  const takeRequest = (tokens: readonly PresentedToken[], address: string | undefined, count = 1): void => {
    const [first] = tokens;
    const waitMs = takeAll(
      first
        ? [
            [limiter, `token ${first.org} ${first.jti}`],
            [issuers, first.org],
          ]
        : [[limiter, `address ${address}`]],
      Date.now(),
      count,
    );
    if (waitMs === 0) return;
    const retryAfterSeconds = Math.ceil(waitMs / 1000);
    throw new TwinxError(ErrorCode.RATE_LIMITED, `Too many requests: retry in ${retryAfterSeconds} s.`, { retryAfterSeconds });
  };
  /** Reading members' keys and revocation lists, one reading after another (`stop()` waits for the last). */
  let syncing: Promise<void> = Promise.resolve();
  /**
   * Members whose keys or revocation list have not been read yet (just joined) or could not be
   * read (down): read again at every registry poll, so that what one announced while it was down
   * (a key retired) counts soon after it is back. Until then their tokens may be answered
   * `UNAVAILABLE`; `/readyz` names them (`issuersUnread`).
   */
  let unread = new Set<string>();
  /** Reads members' keys and revocation lists: the issuer is the source of truth, whatever the bus carried. */
  const syncRevocations = (members: readonly Member[]) =>
    (syncing = syncing.then(async () => {
      const failed = await readMembersAccess(members, keys, (org, list) => hub.apply(org, list), logger);
      unread = new Set([...[...unread].filter((slug) => !members.some((member) => member.slug === slug)), ...failed]);
    }));
  const supergraph = new RegistrySupergraph({
    directoryUrl: options.directoryUrl,
    logger,
    pollMs: options.pollMs,
    onRegistry: (next) => {
      const previous = registry;
      registry = next;
      for (const org of next.suspended.filter((slug) => !previous.suspended.includes(slug))) {
        keys.forgetVerified();
        hub.close({ kind: 'suspended', org });
      }
      const joined = next.members.filter((member) => !previous.members.some((known) => known.slug === member.slug));
      for (const member of joined) unread.add(member.slug);
      void syncRevocations(joined);
    },
  });
  const metrics = new GatewayMetrics({
    subscriptions: (): number => groups.subscriptions,
    executions: (): number => groups.executions,
    composition: () => {
      const { members, unreachable, refused } = supergraph.readiness();
      const { compositions: rounds, failures, lastSuccess } = supergraph;
      return { composed: members.length, unreachable: unreachable.length, refused: refused.length, rounds, failures, lastSuccess };
    },
  });
  /** NATS is there for the gateway once its live feeds (events, revocations) flow again. */
  const natsUp = () => natsConnected(options.nats) && hub.consuming;
  metrics.dependency('nats', natsUp);
  const timeoutMs = options.subgraphTimeoutMs ?? 5000;
  // Unless this is set, @apollo/gateway reports usage to Apollo (from start to stop) and first
  // asks the cloud metadata endpoints (AWS, GCP, Azure, Alibaba) where it runs; it has no option
  // for it. A gateway calls only what the network configures.
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  /** Each subgraph's data source, by name. */
  const sources = new Map<string, SubgraphDataSource>();
  const gateway = new ApolloGateway({
    supergraphSdl: supergraph,
    logger,
    buildService: ({ name, url }) => {
      const source = new SubgraphDataSource({
        subgraph: name,
        url: url!,
        timeoutMs,
        network: supergraph,
        logger,
        dedupe: options.dedupe,
        maxBytesInFlight: options.maxAnswerBytesInFlight,
      });
      // A member's new URL gets a new source: the old one's connections close once its requests are answered.
      void sources.get(name)?.close();
      sources.set(name, source);
      return source;
    },
  });
  const httpServer: Server = createServer();
  const consoleDir = consoleDirectory(options.consoleDir);
  const twinLimits = twinQueryLimits(options.limits);
  const limits: QueryLimits & CostOptions = {
    ...twinLimits,
    listSize: (field, argument) => impactListSize(field, argument) ?? twinLimits.listSize?.(field, argument),
    fieldCost: impactFieldCost,
  };
  /** Runs an operation through the network graph as a caller with these tokens would. */
  const runOperation = async (query: string, variables: Record<string, unknown>, tokens: PresentedToken[]): Promise<NetworkAnswer> => {
    const response = await apollo.executeOperation({ query, variables }, { contextValue: { tokens } });
    if (response.body.kind !== 'single') throw new Error('unexpected incremental answer');
    return response.body.singleResult;
  };
  /** ... its data, or its first error thrown. */
  const queryData = async (query: string, variables: Record<string, unknown>, tokens: PresentedToken[]): Promise<Record<string, unknown>> => {
    const { data, errors } = await runOperation(query, variables, tokens);
    const [error] = errors ?? [];
    if (error) throw new GraphQLError(error.message, { extensions: error.extensions });
    return data ?? {};
  };
  const composed = (org: string) => supergraph.answersOf(org) !== undefined;
  /**
   * Whether the directory would hand this caller a twin of `org` found in its catalog: `org` is an
   * active member this gateway composed and the caller holds its tokens (not revoked) with `twins:read`.
   */
  const askedOfOwner = (org: string, context: unknown): boolean =>
    memberOf(org)?.status === 'ACTIVE' &&
    composed(org) &&
    reachOf(
      ((context as Partial<GatewayContext>).tokens ?? []).filter((token) => !hub.isRevoked(token)),
      'twins:read',
    ).has(org);
  /** Answers impact questions across the network (`impact`, `whatIf`, and the early warnings pushed to subscribers). */
  const impact = new ImpactOrchestrator({ execute: runOperation, keys, composed });
  const impacts = new ImpactWarnings({
    run: (question, tokens) => impact.run(question, tokens),
    execute: runOperation,
    logger,
    deadlineMs: options.impactDeadlineMs,
  });
  const impactDeps: ImpactSchemaDeps = {
    orchestrator: impact,
    query: queryData,
    composed,
    take: (tokens, requests) => takeRequest(tokens, undefined, requests),
  };
  let subscriptions: GraphQLSchema | undefined;
  // The schema subscriptions run on is the one Apollo Server validates and introspects.
  const extend = (apiSchema: GraphQLSchema): GraphQLSchema =>
    (subscriptions = subscriptionSchema(impactSchema(apiSchema, impactDeps), {
      hub,
      impacts,
      maxReplaysPerConnection: options.maxReplaysPerConnection ?? 10,
      maxPendingEvents: options.maxPendingEvents ?? 1000,
      refusal: async (tokens) => {
        for (const token of tokens) {
          const problem = hub.isRevoked(token)
            ? TokenProblem.REVOKED
            : await keys.verify(token.token, [token.kind]).then(
                () => null,
                (error: unknown) =>
                  error instanceof TwinxError ? ((error.details.reason as TokenProblem | undefined) ?? TokenProblem.INVALID) : TokenProblem.INVALID,
              );
          if (problem) {
            reporter.refused(token.token, problem, problem === TokenProblem.REVOKED);
            return { problem, token };
          }
        }
        return null;
      },
      resolveTwins: queryData,
    }));
  const apollo = new ApolloServer<GatewayContext>({
    gateway: withGatewayFields(gateway, extend, askedOfOwner),
    // The network's schema is its public API, read by the console's explorer and partners' tools
    // in production too (Apollo's default turns introspection off there); every request needs a token.
    introspection: true,
    logger,
    formatError: formatError(logger),
    includeStacktraceInErrorResponses: false,
    ...apolloServerOptions<GatewayContext>([
      ApolloServerPluginDrainHttpServer({ httpServer }),
      metrics.plugin(),
      inputPlugin(),
      queryLimitsPlugin(limits),
      setAsidePlugin,
    ]),
  });
  const groups = new SubscriptionGroups({ maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024, reporter, metrics, logger });
  // Frames are bounded before they are read: ws refuses a larger one and closes the connection (1009).
  const webSockets = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: options.maxPayloadBytes ?? 256 * 1024 });
  const maxSubscriptions = options.maxSubscriptionsPerConnection ?? 100;
  const graphqlWs = useServer<Record<string, unknown>, { tokens?: PresentedToken[]; replays: { count: number } }>(
    {
      // A subscription is bounded as a query is (size, depth, cost, with its variables) before it starts.
      onSubscribe: (ctx, _id, { query, operationName, variables }) => {
        const schema = subscriptions!;
        try {
          takeRequest(ctx.extra.tokens ?? [], ctx.extra.request.socket.remoteAddress);
        } catch (error) {
          return [failure(error as TwinxError)];
        }
        // graphql-ws has counted this one in already.
        if (Object.keys(ctx.subscriptions).length > maxSubscriptions) {
          return [
            failure(
              new TwinxError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${maxSubscriptions} subscriptions per connection.`, {
                kind: 'subscriptions',
                limit: maxSubscriptions,
              }),
            ),
          ];
        }
        const tooLarge = sourceLimitError(query, limits);
        if (tooLarge) return [tooLarge];
        let document: DocumentNode;
        try {
          document = parse(query);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const operation = getOperationAST(document, operationName);
        const tooComplex =
          operation &&
          (operationLimitError(schema, document, operation, variables ?? undefined, limits) ??
            twinSelectionsError(schema, document, operation, options.maxTwinSelections ?? 5));
        if (tooComplex) return [tooComplex];
        return { schema, document, operationName, variableValues: variables };
      },
      // Tokens come in connection_init, as the HTTP headers would: `authorization`, `twin-grants`.
      // Tokens set aside are named in the acknowledgement's `warnings`, as in an HTTP answer's extensions.
      onConnect: async (ctx) => {
        try {
          const { tokens, setAside } = await verifyTokens(presentedTokens(connectionHeaders(ctx.connectionParams)));
          ctx.extra.tokens = tokens;
          return setAside.length > 0 ? { warnings: setAsideWarnings(setAside) } : true;
        } catch (error) {
          if (error instanceof TwinxError && error.code === ErrorCode.UNAVAILABLE) ctx.extra.socket.close(ISSUER_UNAVAILABLE, error.message);
          return false;
        }
      },
      context: (ctx, id): SubscriptionContext => ({
        tokens: ctx.extra.tokens ?? [],
        socket: ctx.extra.socket,
        id,
        replays: (ctx.extra.replays ??= { count: 0 }),
      }),
      execute: (args) => execute({ ...args, fieldResolver: responseKeyResolver }),
      subscribe: groups.subscribe,
    },
    webSockets,
    // The gateway's own keep-alive below tells a slow subscriber from a gone one.
    0,
  );
  keepAlive(webSockets, options.keepAliveMs ?? 12_000);
  let ready = false;
  let changes: Subscription | undefined;
  let revocationsPoll: NodeJS.Timeout | undefined;
  let unreadPoll: NodeJS.Timeout | undefined;
  let metricsUrl = '';

  return {
    get url() {
      return url;
    },
    get metricsUrl() {
      return metricsUrl;
    },
    get consoleUrl() {
      return consoleDir === undefined || url === '' ? undefined : new URL('/', url).href;
    },
    async start() {
      await keyFile?.open();
      await apollo.start();
      reporter.start();
      // Known before any subscription starts: a revocation the bus lost still counts.
      await syncing;
      await hub.start();
      revocationsPoll = setInterval(() => void syncRevocations(registry.members), options.revocationsPollMs ?? 60_000);
      unreadPoll = setInterval(
        () => unread.size > 0 && void syncRevocations(registry.members.filter((member) => unread.has(member.slug))),
        options.pollMs ?? 5000,
      );
      changes = options.nats.subscribe(natsNames(options.subjectPrefix).networkChangedSubject, {
        // Only what the network operator signed makes the gateway read the registry again.
        callback: (error, message) => {
          if (error) return;
          verifyMessage(message, { subjectPrefix: options.subjectPrefix, keys }).then(
            () => supergraph.recompose(),
            (rejection: unknown) => {
              if (rejection instanceof RejectedMessage) hub.rejected.add(rejection.reason);
              logger.warn({ err: rejection, subject: message.subject }, 'membership announcement dropped');
            },
          );
        },
      });
      ready = true;
      httpServer.on(
        'request',
        graphqlHandler({
          apollo: () => apollo,
          logger,
          maxBodyBytes: 8 * 1024 * 1024,
          corsOrigins: options.corsOrigins,
          limits,
          context: async (req) => {
            try {
              const presented = presentedTokens(req.headers);
              // Anonymous callers are limited by address before anything else; others by their token once verified.
              if (presentedKinds(presented).length === 0) takeRequest([], req.socket.remoteAddress);
              // Bad tokens are refused here, before any subgraph is asked.
              const { tokens, setAside } = await verifyTokens(presented);
              // A revoked member token is nobody any more: refused as its issuer refuses it, where the
              // directory, leaving revoked tokens out, would answer an empty network. A revoked grant
              // only narrows what the rest of the request sees.
              const revoked = tokens.find((token) => token.kind === 'member' && hub.isRevoked(token));
              if (revoked) throw unauthenticated(TokenProblem.REVOKED, revoked);
              if (tokens.length > 0) takeRequest(tokens, req.socket.remoteAddress);
              return { tokens, setAside };
            } catch (error) {
              throw error instanceof TwinxError ? error.toGraphQLError() : error;
            }
          },
          fallback: consoleDir === undefined ? undefined : consoleRoute(consoleDir),
          routes: {
            '/console/personas.json': personasRoute(options.demoPersonas),
            '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
            '/readyz': (_req, res) => {
              const nats = natsUp();
              // The registry read once at least (until then the gateway serves the directory alone).
              const composed = supergraph.lastSuccess !== null;
              const up = ready && nats && composed;
              sendJson(res, up ? 200 : 503, {
                status: !ready || !composed ? 'starting' : nats ? 'ready' : 'unavailable',
                nats,
                ...supergraph.readiness(),
                issuersUnread: [...unread].filter((slug) => memberOf(slug) !== undefined),
                subscriptions: groups.subscriptions,
                rejectedMessages: hub.rejected.snapshot(),
              });
            },
          },
        }),
      );
      url = await listen(httpServer, options.port ?? 0, options.host ?? '127.0.0.1');
      metricsUrl = await metrics.serve(options.metricsListen ?? { host: '127.0.0.1', port: 0 });
      logger.info({ url, metricsUrl }, 'gateway listening');
    },
    async stop() {
      ready = false;
      clearInterval(revocationsPoll);
      clearInterval(unreadPoll);
      await syncing;
      changes?.unsubscribe();
      for (const socket of webSockets.clients) socket.close(1001, 'the gateway is going away');
      await graphqlWs.dispose();
      await new Promise((resolve) => webSockets.close(resolve));
      await hub.stop();
      await reporter.stop();
      await apollo.stop();
      await Promise.all([...sources.values()].map((source) => source.close()));
      await metrics.stop();
      await keyFile?.flush();
    },
  };
}
