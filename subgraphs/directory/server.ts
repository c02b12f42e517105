import { ApolloServer } from '@apollo/server';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:http';
import { RejectionCounts, signMessage } from '../../lib/bus/signing.ts';
import { listen as listenToStore, type Listening } from '../../lib/db/notify.ts';
import { storeAnswers, type OpenStore } from '../../lib/db/store.ts';
import { TwinxError } from '../../lib/errors.ts';
import type { NetworkChangedEvent } from '../../lib/events.ts';
import { OPERATOR } from '../../lib/ids.ts';
import { apolloServerOptions } from '../../lib/graphql/apollo-features.ts';
import { formatError } from '../../lib/graphql/errors.ts';
import { inputPlugin } from '../../lib/graphql/input.ts';
import { queryLimitsPlugin, type LimitSettings } from '../../lib/graphql/limits.ts';
import { twinQueryLimits } from '../../lib/graphql/twin-types.ts';
import { graphqlHandler, listen, sendJson } from '../../lib/http.ts';
import { verifyImpactStatement } from '../../lib/impact/statement.ts';
import type { Logger } from '../../lib/logger.ts';
import { ServiceMetrics, type MetricsListen } from '../../lib/metrics.ts';
import { ensureMemberStreams, ensureNetworkStreams, natsConnected, natsNames, type Consuming, type NatsConnection, type StreamLimits } from '../../lib/nats.ts';
import { presentedTokens, tokenHeaders } from '../../lib/tokens/headers.ts';
import { NetworkKeys, verifyNetworkTokens } from '../../lib/tokens/network.ts';
import { reachOf } from '../../lib/tokens/reach.ts';
import { readMembersAccess } from '../../lib/tokens/revocations.ts';
import { claimedIssuer, TokenProblem, unauthenticated } from '../../lib/tokens/tokens.ts';
import type { Authenticator } from '../org/auth/authenticator.ts';
import type { KeyRing } from '../org/auth/keys.ts';
import { jwksRoute } from '../org/auth/revocations.ts';
import type { NetworkBus } from './bus.ts';
import { DirectoryCache, DIRECTORY_CHANNEL } from './cache.ts';
import type { DirectoryDb } from './db.ts';
import { applyRevocationList, heardRetirement, startDirectoryEvents } from './events.ts';
import { Registry } from './registry.ts';
import { createDirectoryContext, directorySchema, type DirectoryContext } from './schema.ts';

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
/** How often members' revocation lists are read (besides at start and when a member joins). */
const REVOCATIONS_POLL_MS = 60_000;

export interface DirectoryOptions {
  db: DirectoryDb;
  /** The directory's store, whose NOTIFY channel announces registry changes (wherever they are made). */
  store: OpenStore;
  /** NATS as the network operator's service: it creates the streams and announces membership changes. */
  nats: NatsConnection;
  subjectPrefix: string;
  /** Sizes of the network's streams (lib/nats.ts: DEFAULT_STREAM_LIMITS). */
  streamLimits?: Partial<StreamLimits>;
  /**
   * The network's NATS identities and the NATS servers to push its account to, so that a
   * suspended member's users are cut off; absent when the network's NATS runs without them.
   */
  bus?: { network: NetworkBus; natsUrl: string };
  /** Verifies the network operator's administrator tokens (its own keys and revocations). */
  operatorAuth: Authenticator;
  /** The network operator's keys: published at `/.well-known/jwks.json`, and signing its announcements. */
  operatorKeys: KeyRing;
  logger: Logger;
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Browser origins allowed to call it (CORS, see `graphqlHandler`). @default [] (same origin only) */
  corsOrigins?: readonly string[];
  /** Where `/metrics` is served (lib/metrics.ts). @default { host: '127.0.0.1', port: 0 } */
  metricsListen?: MetricsListen;
  /** Query limits (lib/graphql/limits.ts), each replacing its default. */
  queryLimits?: LimitSettings;
}

export interface Directory {
  readonly url: string;
  /** `http://host:port/metrics`, once started. */
  readonly metricsUrl: string;
  start(): Promise<void>;
  /** Re-reads the registry now and acts on what changed (NATS account, streams, gateways told). */
  membershipChanged(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The network's directory: membership registry and twin catalog, served as a subgraph whose
 * schema follows the registry (one stub per composed member), plus `GET /registry` for gateways.
 * As the network operator's service, it also keeps the network's NATS in line with the
 * registry, and tells gateways of every change (signed, on `<prefix>.network.changed`).
 */
export function createDirectory(options: DirectoryOptions): Directory {
  const logger = options.logger.child({ service: 'directory' });
  const { db, nats } = options;
  const names = natsNames(options.subjectPrefix);
  const registry = new Registry(db);
  const cache = new DirectoryCache(db);
  // Tokens and messages of members only: a suspended member's (and grants held by it) count for nothing.
  const keys = new NetworkKeys(
    (org) => registry.unsuspendedMember(org)?.jwksUrl,
    (org) => registry.get(org)?.status === 'SUSPENDED',
  );
  const rejected = new RejectionCounts();
  const queryLimits = twinQueryLimits(options.queryLimits);
  const httpServer: Server = createServer();
  const metrics = new ServiceMetrics();
  /** NATS is there for the directory once its consumers take the organizations' events again. */
  const natsUp = () => natsConnected(nats) && (events?.consuming ?? false);
  metrics.dependency('nats', natsUp);
  metrics.dependency('database', () => storeAnswers(db));
  let apollo: ApolloServer<DirectoryContext> | undefined;
  let events: Consuming | undefined;
  let listening: Listening | undefined;
  const timers: NodeJS.Timeout[] = [];
  let url = '';
  let metricsUrl = '';
  /** The composed members' slugs the schema was built for: all it depends on. */
  let schemaSlugs: string | undefined;
  let refreshing: Promise<void> = Promise.resolve();
  /** A registry change not yet acted on (the last try failed: NATS down...); the next refresh tries again. */
  let actionsDue = true;

  async function rebuild(): Promise<void> {
    const next = new ApolloServer<DirectoryContext>({
      schema: directorySchema(registry.composed()),
      logger,
      formatError: formatError(logger),
      includeStacktraceInErrorResponses: false,
      ...apolloServerOptions<DirectoryContext>([metrics.plugin(), inputPlugin(), queryLimitsPlugin(queryLimits)]),
    });
    await next.start();
    const previous = apollo;
    apollo = next;
    await previous?.stop();
    logger.info({ members: registry.composed().map((m) => `${m.slug}:${m.status}`) }, 'directory schema rebuilt');
  }

  /** Reads every member's keys and revocation list: the issuer is the source of truth, whatever the bus carried. */
  async function syncRevocations(): Promise<void> {
    await db.revokedToken.deleteMany({ where: { expiresAt: { lt: new Date() } } });
    cache.forgetExpired();
    await readMembersAccess(registry.composed(), keys, (org, list) => applyRevocationList(cache, keys, org, list), logger);
  }

  /** Revocation lists read one after another; `stop()` waits for the last. */
  let syncing: Promise<void> = Promise.resolve();
  const syncRevocationsQuietly = () => {
    syncing = syncing.then(syncRevocations).catch((error: unknown) => logger.error({ err: error }, 'revocation sync failed'));
  };

  /** Acts on a change of the registry: NATS account and streams, tokens forgotten, gateways told. */
  async function membershipActions(): Promise<void> {
    keys.forgetVerified();
    // Gateways first: closing access (a suspension) waits for nothing else.
    const body = new TextEncoder().encode(JSON.stringify({ type: 'network.changed', at: new Date().toISOString() } satisfies NetworkChangedEvent));
    nats.publish(names.networkChangedSubject, body, {
      headers: signMessage('network.changed', body, { org: OPERATOR, key: await options.operatorKeys.signingKey() }),
    });
    await options.bus?.network.pushAccount(options.bus.natsUrl);
    await ensureNetworkStreams(nats, options.subjectPrefix, options.streamLimits);
    for (const member of registry.composed()) await ensureMemberStreams(nats, options.subjectPrefix, member.slug, options.streamLimits);
    syncRevocationsQuietly();
  }

  /**
   * Re-reads the registry, one read after another; rebuilds the schema when the composed members
   * change, and acts on any change (`force`: acts anyway, e.g. a member changed what it serves).
   */
  function refresh(force = false): Promise<void> {
    if (force) actionsDue = true;
    refreshing = refreshing
      .catch(() => undefined)
      .then(async () => {
        if ((await registry.refresh()) || schemaSlugs === undefined) {
          const slugs = registry
            .composed()
            .map((member) => member.slug)
            .join(' ');
          if (slugs !== schemaSlugs) await rebuild();
          schemaSlugs = slugs;
          actionsDue = true;
        }
        if (!actionsDue) return;
        await membershipActions();
        actionsDue = false;
      });
    return refreshing;
  }

  const refreshQuietly = () => void refresh().catch((error: unknown) => logger.error({ err: error }, 'registry refresh failed'));

  let stopped = false;
  let relistening: NodeJS.Timeout | undefined;

  /**
   * Changes to the store made anywhere (the CLI, another replica) as they commit: the registry's,
   * the catalog's and revoked tokens; and keys that members retired, heard by another replica. A
   * lost channel (the database restarting) is listened to again every second, and what changed
   * meanwhile is read once it is back (the registry, and members' revocation lists for the keys);
   * the poll covers the registry's gap, and the cache recalls nothing meanwhile.
   */
  async function listenToChanges(): Promise<void> {
    const channel = await listenToStore(options.store, DIRECTORY_CHANNEL, {
      name: 'twinx-directory-changes',
      onMessage: (payload) => cache.heard(payload) || heardRetirement(keys, payload, logger) || refreshQuietly(),
      onLost: (error) => {
        cache.lost();
        logger.warn({ err: error }, 'directory channel lost, listening again');
        listenAgain();
      },
    });
    if (stopped) return channel.close();
    listening = channel;
    await cache.listened().catch(async (error: unknown) => {
      await channel.close();
      throw error;
    });
  }

  function listenAgain(): void {
    if (stopped) return;
    // Lost while being listened to again: one attempt pending at a time.
    clearTimeout(relistening);
    relistening = setTimeout(
      () =>
        listenToChanges().then(() => {
          if (stopped) return;
          refreshQuietly();
          syncRevocationsQuietly();
        }, listenAgain),
      1000,
    );
  }

  /** The caller's tokens: the operator's administrators', and members' and partners' for visibility. */
  async function contextFor(headers: IncomingHttpHeaders): Promise<DirectoryContext> {
    const { bearer, grants } = presentedTokens(headers);
    // Nothing is readable without a token (README, "Access"), as at the organizations.
    if (bearer === undefined && grants.length === 0) throw unauthenticated(TokenProblem.MISSING);
    const operatorTokens: string[] = [];
    const memberTokens: string[] = [];
    for (const token of [...(bearer === undefined ? [] : [bearer]), ...grants]) {
      // A token verified lately is a member's: only the others are read for their issuer.
      (keys.remembers(token) || claimedIssuer(token) !== OPERATOR ? memberTokens : operatorTokens).push(token);
    }
    let operator: string | null = null;
    if (operatorTokens.length > 0) {
      const principal = await options.operatorAuth.authenticate(tokenHeaders(operatorTokens));
      operator = principal.scopes.has('grants:admin') ? principal.subject : null;
    }
    const { tokens: verified } = await verifyNetworkTokens({ bearer: memberTokens[0], grants: memberTokens.slice(1) }, keys);
    return createDirectoryContext({
      db,
      cache,
      registry,
      reach: reachOf(await cache.notRevoked(verified), 'twins:read'),
      handedOut: handedOut(registry, headers[COMPOSED_HEADER]),
      operator,
      membershipChanged: () => refresh(true),
      verifyStatement: (statement) => verifyImpactStatement(statement, keys),
    });
  }

  return {
    get url() {
      return url;
    },
    get metricsUrl() {
      return metricsUrl;
    },
    membershipChanged: () => refresh(true),
    async start() {
      await refresh();
      await listenToChanges();
      events = await startDirectoryEvents({ cache, nats, subjectPrefix: options.subjectPrefix, keys, rejected, logger });
      timers.push(setInterval(refreshQuietly, POLL_MS), setInterval(syncRevocationsQuietly, REVOCATIONS_POLL_MS));
      httpServer.on(
        'request',
        graphqlHandler({
          apollo: () => apollo!,
          logger,
          maxBodyBytes: 1024 * 1024,
          corsOrigins: options.corsOrigins,
          limits: queryLimits,
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
                suspended: registry
                  .all()
                  .filter((member) => member.status === 'SUSPENDED')
                  .map((member) => member.slug),
              }),
            '/.well-known/jwks.json': jwksRoute(options.operatorKeys),
            '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
            '/readyz': async (_req, res) => {
              const checks = { nats: natsUp(), database: await storeAnswers(db) };
              const ready = checks.nats && checks.database;
              sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', ...checks, rejectedMessages: rejected.snapshot() });
            },
          },
        }),
      );
      url = await listen(httpServer, options.port ?? 0, options.host ?? '127.0.0.1');
      metricsUrl = await metrics.serve(options.metricsListen ?? { host: '127.0.0.1', port: 0 });
      logger.info({ url, metricsUrl }, 'directory listening');
    },
    async stop() {
      stopped = true;
      clearTimeout(relistening);
      for (const timer of timers) clearInterval(timer);
      await listening?.close();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      await events?.stop();
      await refreshing.catch(() => undefined);
      await syncing;
      await apollo?.stop();
      await metrics.stop();
    },
  };
}
