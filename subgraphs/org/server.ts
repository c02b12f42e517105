import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { createServer, type Server } from 'node:http';
import { apolloServerOptions } from '../../lib/graphql/apollo-features.ts';
import { formatError } from '../../lib/graphql/errors.ts';
import { inputPlugin } from '../../lib/graphql/input.ts';
import { queryLimitsPlugin, type LimitSettings } from '../../lib/graphql/limits.ts';
import { twinQueryLimits } from '../../lib/graphql/twin-types.ts';
import { graphqlHandler, listen, sendJson } from '../../lib/http.ts';
import type { Logger } from '../../lib/logger.ts';
import { OrgMetrics, type MetricsListen } from '../../lib/metrics.ts';
import { natsConnected, type Consuming, type NatsConnection } from '../../lib/nats.ts';
import { storeAnswers } from '../../lib/db/store.ts';
import { TwinxError } from '../../lib/errors.ts';
import { isServiceSdlQuery, SDL_PATH, serviceSdlRoute } from '../../lib/graphql/service-query.ts';
import { GRANTS_HEADER } from '../../lib/tokens/headers.ts';
import { Access, unrestricted, type Principal } from './access.ts';
import { DEFAULT_HEALTH_THRESHOLDS, HealthTrainer, type HealthThresholds } from './analytics/health.ts';
import { startAlarmEscalation } from './analytics/alarms.ts';
import { AuditLog } from './audit/log.ts';
import { startAccessReports } from './audit/reports.ts';
import { outboxBacklog, OutboxPublisher } from './events/publisher.ts';
import { RefusedTokenError, type Authenticator } from './auth/authenticator.ts';
import type { KeyRing } from './auth/keys.ts';
import { jwksRoute, revocationsRoute } from './auth/revocations.ts';
import { REVOCATIONS_PATH } from '../../lib/tokens/revocations.ts';
import { createOrgContext, type OrgContext, type OrgLimits } from './context.ts';
import type { OrgDb } from './db.ts';
import { orgNames } from './names.ts';
import { orgSchema } from './schema.ts';
import { ingestBacklog, startDeviceIngest } from './telemetry/device-ingest.ts';
import { ingestBatches } from './telemetry/ingest.ts';

/** Options of an organization subgraph. The caller owns `db` and `nats` and closes them after `stop()`. */
export interface OrgSubgraphOptions {
  /** The organization's slug, e.g. `acme`; it names the GraphQL types and NATS subjects. */
  org: string;
  db: OrgDb;
  nats: NatsConnection;
  /** NATS subject prefix of the deployment (no default: deployments must not share subjects). */
  subjectPrefix: string;
  /** Identifies the caller from the request's headers. */
  auth: Authenticator;
  /** The organization's keys: published as JWKS, and used to sign the tokens admins issue. */
  keys: KeyRing;
  logger: Logger;
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Browser origins allowed to call it (CORS, see `graphqlHandler`). @default [] (same origin only) */
  corsOrigins?: readonly string[];
  limits?: Partial<OrgLimits>;
  /** When health and RUL raise alarms, unless a kind sets its own. @default DEFAULT_HEALTH_THRESHOLDS */
  healthThresholds?: HealthThresholds;
  /** Query limits (lib/graphql/limits.ts), each replacing its default. */
  queryLimits?: LimitSettings;
  /**
   * Largest HTTP request body in bytes.
   * @default 8 MiB (a full ingest batch of 5,000 readings is about 0.6 MiB)
   */
  maxBodyBytes?: number;
  /** Where `/metrics` is served (lib/metrics.ts). @default { host: '127.0.0.1', port: 0 } */
  metricsListen?: MetricsListen;
  /** Whether readings are analysed as they are stored (anomaly scores, alarms). @default true */
  analytics?: boolean;
  /** Seconds an alarm may stay unacknowledged before it escalates, unless its twin's kind says otherwise. @default 900 */
  alarmEscalateAfterSeconds?: number;
  /** Seconds between looks at the outbox besides the announcements of its events (subgraphs/org/events/publisher.ts). @default 30 */
  outboxSweepSeconds?: number;
}

export interface OrgSubgraph {
  /** `http://host:port/graphql`, once started. */
  readonly url: string;
  /** `http://host:port/metrics`, once started. */
  readonly metricsUrl: string;
  start(): Promise<void>;
  /** Resolves once every event committed so far is published (or a try failed). */
  eventsPublished(): Promise<void>;
  /** Resolves once the health model trainings scheduled so far (after failures were recorded) have ended. */
  healthTrained(): Promise<void>;
  /** Stops consuming device telemetry and access reports, stops escalating alarms, drains HTTP, waits for health model trainings, stops publishing, writes the pending audit entries. */
  stop(): Promise<void>;
}

/** Who asks for the subgraph's SDL without a token (gateways composing the network): no scope at all. */
const SDL_READER = unrestricted('anonymous', 'sdl-reader', []);

export const DEFAULT_LIMITS: OrgLimits = { maxIngestBatch: 5000, maxPageSize: 500, maxBuckets: 10_000 };

/** An organization's GraphQL subgraph with its consumers of device ingest and gateways' access reports. Does nothing until `start()`. */
export function createOrgSubgraph(options: OrgSubgraphOptions): OrgSubgraph {
  const names = orgNames(options.org);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const logger = options.logger.child({ org: options.org });
  const healthThresholds = options.healthThresholds ?? DEFAULT_HEALTH_THRESHOLDS;
  const base = { names, db: options.db, limits, analytics: options.analytics ?? true, healthThresholds };
  const audit = new AuditLog({ db: options.db, logger });
  const healthTrainer = new HealthTrainer({ db: options.db, logger });
  let publisher: OutboxPublisher | undefined;
  const httpServer: Server = createServer();
  const metrics = new OrgMetrics({
    outbox: () => outboxBacklog(options.db),
    ingestBacklog: () => ingestBacklog(options.nats, options.subjectPrefix, options.org),
  });
  metrics.dependency('nats', () => natsConnected(options.nats));
  metrics.dependency('database', () => storeAnswers(options.db));
  const queryLimits = twinQueryLimits(options.queryLimits);
  const schema = orgSchema(names);
  const apollo = new ApolloServer<OrgContext>({
    schema,
    logger,
    formatError: formatError(logger),
    includeStacktraceInErrorResponses: false,
    ...apolloServerOptions<OrgContext>([
      ApolloServerPluginDrainHttpServer({ httpServer }),
      metrics.plugin(),
      inputPlugin(),
      queryLimitsPlugin(queryLimits),
      {
        // One audit trail per request, written once the response is known.
        requestDidStart: async () => ({
          willSendResponse: async ({ contextValue, operationName }) => {
            const entries = contextValue.access.auditEntries();
            audit.record(entries, operationName ?? null);
            metrics.accessed(entries);
          },
        }),
      },
    ]),
  });
  let deviceIngest: Consuming | undefined;
  let accessReports: Consuming | undefined;
  let escalation: { stop: () => Promise<void> } | undefined;
  let url = '';
  let metricsUrl = '';

  /** What `/readyz` reports: 503 unless the store and NATS are reachable (NATS: connected now); consumers wait for the network operator's streams. */
  async function readiness(): Promise<{ ready: boolean; nats: boolean; database: boolean; deviceIngest: boolean; accessReports: boolean }> {
    const nats = natsConnected(options.nats);
    const database = await storeAnswers(options.db);
    return { ready: nats && database, nats, database, deviceIngest: deviceIngest?.consuming ?? false, accessReports: accessReports?.consuming ?? false };
  }

  return {
    get url() {
      return url;
    },
    get metricsUrl() {
      return metricsUrl;
    },
    eventsPublished: () => publisher?.flushed() ?? Promise.resolve(),
    healthTrained: () => healthTrainer.idle(),
    async start() {
      await apollo.start();
      publisher = new OutboxPublisher({
        org: options.org,
        db: options.db,
        keys: options.keys,
        nats: options.nats,
        subjectPrefix: options.subjectPrefix,
        logger,
        listening: () => options.auth.listening ?? false,
        sweepMs: (options.outboxSweepSeconds ?? 30) * 1000,
      });
      // An event added elsewhere (another replica, the CLI) is published as soon as it is announced.
      options.auth.onChange?.(() => publisher?.kick());
      httpServer.on(
        'request',
        graphqlHandler({
          apollo: () => apollo,
          logger,
          maxBodyBytes: options.maxBodyBytes ?? 8 * 1024 * 1024,
          corsOrigins: options.corsOrigins,
          limits: queryLimits,
          context: async (req, body) => {
            let principal: Principal;
            try {
              const anonymous = req.headers.authorization === undefined && req.headers[GRANTS_HEADER] === undefined;
              principal = anonymous && isServiceSdlQuery(body) ? SDL_READER : await options.auth.authenticate(req.headers);
            } catch (error) {
              if (error instanceof RefusedTokenError) {
                audit.refused(error.audit);
                metrics.accessed(error.audit);
              }
              throw error instanceof TwinxError ? error.toGraphQLError() : error;
            }
            return createOrgContext({
              ...base,
              access: new Access(principal, options.org),
              keys: options.keys,
              audit,
              auth: options.auth,
              healthTrainer,
              healthThresholds,
            });
          },
          routes: {
            '/.well-known/jwks.json': jwksRoute(options.keys),
            [SDL_PATH]: serviceSdlRoute(schema),
            '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
            [REVOCATIONS_PATH]: revocationsRoute(options.db),
            '/readyz': async (_req, res) => {
              const { ready, ...checks } = await readiness();
              sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', ...checks });
            },
          },
        }),
      );
      // Devices are authenticated by NATS (their credentials allow publishing on the subject).
      const deviceAccess = new Access(unrestricted('device', 'devices', ['telemetry:write']), options.org);
      deviceIngest = startDeviceIngest({
        nats: options.nats,
        subjectPrefix: options.subjectPrefix,
        org: options.org,
        ingest: (batches) => ingestBatches({ ...base, access: deviceAccess }, batches),
        maxBatch: base.limits.maxIngestBatch,
        onStored: (result, publishedAt) => metrics.ingested(result.accepted, result.duplicates, publishedAt),
        onDeadLettered: (code) => metrics.deadLettered(code),
        logger,
      });
      accessReports = startAccessReports({
        nats: options.nats,
        subjectPrefix: options.subjectPrefix,
        org: options.org,
        db: options.db,
        onRecorded: (entries) => metrics.accessed(entries),
        logger,
      });
      escalation = startAlarmEscalation({
        db: options.db,
        org: options.org,
        escalateAfterSeconds: options.alarmEscalateAfterSeconds ?? 900,
        logger,
      });
      url = await listen(httpServer, options.port ?? 0, options.host ?? '127.0.0.1');
      metricsUrl = await metrics.serve(options.metricsListen ?? { host: '127.0.0.1', port: 0 });
      logger.info({ url, metricsUrl }, 'organization subgraph listening');
    },
    async stop() {
      await deviceIngest?.stop();
      await accessReports?.stop();
      await escalation?.stop();
      await apollo.stop();
      await healthTrainer.stop();
      await publisher?.stop();
      await audit.stop();
      await metrics.stop();
    },
  };
}
