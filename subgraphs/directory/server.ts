import { ApolloServer } from '@apollo/server';
import type { Subscription } from '@nats-io/transport-node';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:http';
import { TwinxError } from '../../lib/errors.ts';
import { formatError } from '../../lib/graphql/errors.ts';
import { graphqlHandler, listen, sendJson } from '../../lib/http.ts';
import type { Logger } from '../../lib/logger.ts';
import { ensureEventStreams, natsNames, type NatsConnection } from '../../lib/nats.ts';
import { presentedTokens, tokenHeaders } from '../../lib/tokens/headers.ts';
import { NetworkKeys, verifyNetworkTokens } from '../../lib/tokens/network.ts';
import { claimedIssuer } from '../../lib/tokens/tokens.ts';
import type { Authenticator } from '../org/auth/authenticator.ts';
import { jwksRoute, type KeyRing } from '../org/auth/keys.ts';
import type { DirectoryDb } from './db.ts';
import { startDirectoryEvents } from './events.ts';
import { Registry } from './registry.ts';
import { createDirectoryContext, directorySchema, type DirectoryContext } from './schema.ts';
import { reachOf } from '../../lib/tokens/reach.ts';

/** The slug under which the network operator issues its administrators' tokens (reserved for organizations). */
export const OPERATOR = 'network';

/**
 * The request header in which a gateway names the members it composed (`acme,globex`). The
 * directory then hands out twins of those members only: a twin of a member the gateway refused
 * would carry a type name the gateway does not know and break whole lists. It only narrows what
 * the caller's tokens let it see; a caller without it sees every active member's twins.
 */
export const COMPOSED_HEADER = 'twinx-composed';

/** Active members whose twins a request may be handed, narrowed to those named in `COMPOSED_HEADER` if present. */
function handedOut(registry: Registry, composed: string | string[] | undefined): Set<string> {
  const active = registry.active().map((member) => member.slug);
  if (composed === undefined) return new Set(active);
  const named = new Set(
    String(composed)
      .split(',')
      .map((slug) => slug.trim()),
  );
  return new Set(active.filter((slug) => named.has(slug)));
}

/** How often the registry is re-read besides when told of a change. */
const POLL_MS = 5000;

export interface DirectoryOptions {
  db: DirectoryDb;
  nats: NatsConnection;
  subjectPrefix: string;
  /** Verifies the network operator's administrator tokens (its own keys and revocations). */
  operatorAuth: Authenticator;
  /** The network operator's keys, published at `/.well-known/jwks.json` for gateways. */
  operatorKeys: KeyRing;
  logger: Logger;
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

export interface Directory {
  readonly url: string;
  start(): Promise<void>;
  /** Re-reads the registry after a change made straight in the store, and tells the gateways. */
  membershipChanged(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The network's directory: membership registry and twin catalog, served as a subgraph whose
 * schema follows the registry (one stub per composed member), plus `GET /registry` for gateways.
 */
export function createDirectory(options: DirectoryOptions): Directory {
  const logger = options.logger.child({ service: 'directory' });
  const { db, nats } = options;
  const names = natsNames(options.subjectPrefix);
  const registry = new Registry(db);
  const keys = new NetworkKeys((org) => registry.get(org)?.jwksUrl);
  const httpServer: Server = createServer();
  let apollo: ApolloServer<DirectoryContext> | undefined;
  let events: { stop: () => Promise<void> } | undefined;
  let subscription: Subscription | undefined;
  let poll: NodeJS.Timeout | undefined;
  let url = '';
  /** The composed members' slugs the schema was built for: all it depends on. */
  let schemaSlugs: string | undefined;
  let refreshing: Promise<void> = Promise.resolve();

  async function rebuild(): Promise<void> {
    const next = new ApolloServer<DirectoryContext>({
      schema: directorySchema(registry.composed()),
      logger,
      formatError: formatError(logger),
      includeStacktraceInErrorResponses: false,
    });
    await next.start();
    const previous = apollo;
    apollo = next;
    await previous?.stop();
    logger.info({ members: registry.composed().map((m) => `${m.slug}:${m.status}`) }, 'directory schema rebuilt');
  }

  /** Re-reads the registry, one read after another; rebuilds the schema when the composed members change. */
  function refresh(): Promise<void> {
    refreshing = refreshing
      .catch(() => undefined)
      .then(async () => {
        await registry.refresh();
        const slugs = registry
          .composed()
          .map((member) => member.slug)
          .join(' ');
        if (slugs === schemaSlugs) return;
        await rebuild();
        schemaSlugs = slugs;
      });
    return refreshing;
  }

  const refreshQuietly = () => void refresh().catch((error) => logger.error({ err: error }, 'registry refresh failed'));

  async function membershipChanged(): Promise<void> {
    await refresh();
    nats.publish(names.networkChangedSubject);
  }

  /** The caller's tokens: the operator's administrators', and members' and partners' for visibility. */
  async function contextFor(headers: IncomingHttpHeaders): Promise<DirectoryContext> {
    const { bearer, grants } = presentedTokens(headers);
    const operatorTokens: string[] = [];
    const memberTokens: string[] = [];
    for (const token of [...(bearer === undefined ? [] : [bearer]), ...grants]) {
      (claimedIssuer(token) === OPERATOR ? operatorTokens : memberTokens).push(token);
    }
    let operator: string | null = null;
    if (operatorTokens.length > 0) {
      const principal = await options.operatorAuth.authenticate(tokenHeaders(operatorTokens));
      operator = principal.scopes.has('grants:admin') ? principal.subject : null;
    }
    const verified = await verifyNetworkTokens({ bearer: memberTokens[0], grants: memberTokens.slice(1) }, keys);
    const grantIds = verified.filter((token) => token.kind === 'grant').map((token) => token.jti);
    const revoked = grantIds.length === 0 ? [] : await db.revokedGrant.findMany({ where: { jti: { in: grantIds } }, select: { jti: true } });
    return createDirectoryContext({
      db,
      registry,
      reach: reachOf(verified, new Set(revoked.map((row) => row.jti)), 'twins:read'),
      handedOut: handedOut(registry, headers[COMPOSED_HEADER]),
      operator,
      membershipChanged,
    });
  }

  return {
    get url() {
      return url;
    },
    membershipChanged,
    async start() {
      await refresh();
      await ensureEventStreams(nats, options.subjectPrefix);
      events = await startDirectoryEvents({ db, nats, subjectPrefix: options.subjectPrefix, logger });
      subscription = nats.subscribe(names.networkChangedSubject, { callback: refreshQuietly });
      poll = setInterval(refreshQuietly, POLL_MS);
      httpServer.on(
        'request',
        graphqlHandler({
          apollo: () => apollo!,
          maxBodyBytes: 1024 * 1024,
          context: async (req) => {
            try {
              return await contextFor(req.headers);
            } catch (error) {
              throw error instanceof TwinxError ? error.toGraphQLError() : error;
            }
          },
          routes: {
            '/registry': (_req, res) =>
              sendJson(res, 200, {
                members: registry.composed().map(({ slug, name, subgraphUrl, jwksUrl, status }) => ({ slug, name, subgraphUrl, jwksUrl, status })),
              }),
            '/.well-known/jwks.json': jwksRoute(options.operatorKeys),
            '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
            '/readyz': (_req, res) => sendJson(res, nats.isClosed() ? 503 : 200, { status: nats.isClosed() ? 'unavailable' : 'ready' }),
          },
        }),
      );
      url = await listen(httpServer, options.port ?? 0, options.host ?? '127.0.0.1');
      logger.info({ url }, 'directory listening');
    },
    async stop() {
      clearInterval(poll);
      subscription?.unsubscribe();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      await events?.stop();
      await refreshing.catch(() => undefined);
      await apollo?.stop();
    },
  };
}
