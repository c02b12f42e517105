import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { execute, GraphQLError, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createServer, type Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { TwinxError } from '../lib/errors.ts';
import { formatError } from '../lib/graphql/errors.ts';
import { queryLimitsPlugin, type QueryLimits } from '../lib/graphql/limits.ts';
import { graphqlHandler, listen, sendJson } from '../lib/http.ts';
import type { Logger } from '../lib/logger.ts';
import type { NatsConnection } from '../lib/nats.ts';
import { presentedTokens } from '../lib/tokens/headers.ts';
import { NetworkKeys, verifyNetworkTokens, type PresentedToken } from '../lib/tokens/network.ts';
import { OPERATOR } from '../subgraphs/directory/server.ts';
import { SubgraphDataSource } from './data-source.ts';
import { RegistrySupergraph } from './supergraph.ts';
import { EventHub } from './subscriptions/hub.ts';
import { SubscriptionGroups } from './subscriptions/fanout.ts';
import { responseKeyResolver, subscriptionSchema, type SubscriptionContext } from './subscriptions/schema.ts';

/** What the gateway knows of a request: its verified tokens. */
export interface GatewayContext {
  tokens: PresentedToken[];
}

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
  /**
   * Longest wait for one subgraph's answer, in ms; then that subgraph's part of the answer is
   * an error and the rest of the network still answers.
   * @default 5000
   */
  subgraphTimeoutMs?: number;
  /** @default { maxDepth: 12, maxCost: 20000, defaultListSize: 50 } */
  limits?: QueryLimits;
  /** How often the registry is re-read besides when told of a change. @default 5000 */
  pollMs?: number;
  /**
   * Bytes a subscriber's connection may have waiting to be sent; a slower one is closed (4408).
   * @default 1 MiB
   */
  maxBufferedBytes?: number;
}

export interface Gateway {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The supplier-network gateway: one graph over the directory and every member organization. */
export function createGateway(options: GatewayOptions): Gateway {
  const logger = options.logger.child({ service: 'gateway' });
  const supergraph = new RegistrySupergraph({
    directoryUrl: options.directoryUrl,
    nats: options.nats,
    subjectPrefix: options.subjectPrefix,
    logger,
    pollMs: options.pollMs,
  });
  const operatorJwks = new URL('/.well-known/jwks.json', options.directoryUrl).href;
  const keys = new NetworkKeys((org) => (org === OPERATOR ? operatorJwks : supergraph.jwksUrlOf(org)));
  const timeoutMs = options.subgraphTimeoutMs ?? 5000;
  const gateway = new ApolloGateway({
    supergraphSdl: supergraph,
    logger,
    buildService: ({ name, url }) => new SubgraphDataSource({ subgraph: name, url: url!, timeoutMs, network: supergraph, logger }),
  });
  const httpServer: Server = createServer();
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    logger,
    formatError: formatError(logger),
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer }), queryLimitsPlugin(options.limits ?? { maxDepth: 12, maxCost: 20_000, defaultListSize: 50 })],
  });
  const hub = new EventHub({ nats: options.nats, subjectPrefix: options.subjectPrefix, logger });
  let subscriptions: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema }) => {
    subscriptions = subscriptionSchema(apiSchema, {
      hub,
      resolveTwin: async (query, variables, tokens) => {
        const response = await apollo.executeOperation({ query, variables }, { contextValue: { tokens } });
        if (response.body.kind !== 'single') throw new Error('unexpected incremental answer');
        const [error] = response.body.singleResult.errors ?? [];
        if (error) throw new GraphQLError(error.message, { extensions: error.extensions });
        return (response.body.singleResult.data as { twin: unknown } | undefined)?.twin ?? null;
      },
    });
  });
  const groups = new SubscriptionGroups({ maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024, logger });
  const webSockets = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const graphqlWs = useServer<Record<string, unknown>, { tokens?: PresentedToken[] }>(
    {
      schema: () => subscriptions!,
      // Tokens come in connection_init, as the HTTP headers would: `authorization`, `twin-grants`.
      onConnect: async (ctx) => {
        try {
          ctx.extra.tokens = await verifyNetworkTokens(presentedTokens((ctx.connectionParams ?? {}) as Record<string, string>), keys);
          return true;
        } catch {
          return false;
        }
      },
      context: (ctx, id): SubscriptionContext => ({ tokens: ctx.extra.tokens ?? [], socket: ctx.extra.socket, id }),
      execute: (args) => execute({ ...args, fieldResolver: responseKeyResolver }),
      subscribe: groups.subscribe,
    },
    webSockets,
  );
  let ready = false;
  let url = '';

  return {
    get url() {
      return url;
    },
    async start() {
      await hub.start();
      await apollo.start();
      ready = true;
      httpServer.on(
        'request',
        graphqlHandler({
          apollo: () => apollo,
          maxBodyBytes: 8 * 1024 * 1024,
          context: async (req) => {
            try {
              // Bad tokens are refused here, before any subgraph is asked.
              return { tokens: await verifyNetworkTokens(presentedTokens(req.headers), keys) };
            } catch (error) {
              throw error instanceof TwinxError ? error.toGraphQLError() : error;
            }
          },
          routes: {
            '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
            '/readyz': (_req, res) =>
              sendJson(res, ready && !options.nats.isClosed() ? 200 : 503, {
                status: ready ? 'ready' : 'starting',
                ...supergraph.readiness(),
                subscriptions: groups.subscriptions,
              }),
          },
        }),
      );
      url = await listen(httpServer, options.port ?? 0, options.host ?? '127.0.0.1');
      logger.info({ url }, 'gateway listening');
    },
    async stop() {
      ready = false;
      for (const socket of webSockets.clients) socket.close(1001, 'the gateway is going away');
      await graphqlWs.dispose();
      await new Promise((resolve) => webSockets.close(resolve));
      await hub.stop();
      await apollo.stop();
    },
  };
}
