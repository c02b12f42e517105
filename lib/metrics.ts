import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { listen } from './http.ts';

/**
 * Where a service serves `/metrics`: a listener of its own, never the public one. Metrics tell
 * an organization's business (which partners read what, how often, how much it ingests), so
 * only whoever the operator lets reach this address reads them.
 */
export interface MetricsListen {
  host: string;
  port: number;
}

/** A label value standing for every value beyond those a label keeps apart. */
const OTHER = '(other)';

/**
 * Label values as they come, up to `max` distinct ones; any further one is {@link OTHER}.
 * Callers name their operations (and claim whatever they like in refused tokens): a flood of
 * made-up names must not grow the number of series.
 */
class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(value);
    return value;
  }
}

let processMetrics: Registry | undefined;

/**
 * Process metrics (CPU, memory, event loop, GC): one set per process, shared by every service it
 * runs (the demo and the tests run several), as prom-client never releases the observers behind
 * them.
 */
function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** The code of an error as the caller receives it; an error without one leaves as `INTERNAL` (lib/graphql/errors.ts). */
function codeOf(extensions: Record<string, unknown> | undefined): string {
  return typeof extensions?.code === 'string' ? extensions.code : 'INTERNAL';
}

/**
 * One service's Prometheus metrics, in a registry of its own (a process may run several
 * services), served with the process's metrics on `/metrics` of a listener of its own.
 */
export class ServiceMetrics {
  protected readonly registry = new Registry();
  private readonly operationNames = new BoundedLabel(100);
  private readonly errorCodes = new BoundedLabel(50);
  private readonly operations = new Histogram({
    name: 'twinx_graphql_operation_duration_seconds',
    help: 'GraphQL requests by operation type and name (unnamed: "(anonymous)", not resolved: type "(none)"), from receipt to response.',
    labelNames: ['operation_type', 'operation_name'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'twinx_graphql_errors_total',
    help: 'Errors sent to GraphQL callers, by extensions.code (authentication refusals included).',
    labelNames: ['code'],
    registers: [this.registry],
  });
  /** How to tell whether each dependency is up, read when scraped. */
  private readonly dependencies = new Map<string, () => boolean | Promise<boolean>>();
  private server?: Server;

  constructor() {
    const dependencies = this.dependencies;
    new Gauge({
      name: 'twinx_dependency_up',
      help: 'Whether a dependency the service needs (nats...) is available to it now: 1 up, 0 down (the service is then not ready).',
      labelNames: ['dependency'],
      registers: [this.registry],
      async collect() {
        for (const [dependency, read] of dependencies) {
          const up = await Promise.resolve()
            .then(read)
            .catch(() => false);
          this.set({ dependency }, up ? 1 : 0);
        }
      },
    });
  }

  /** Reports a dependency in `twinx_dependency_up`, as `up` reads it when scraped. */
  dependency(name: string, up: () => boolean | Promise<boolean>): void {
    this.dependencies.set(name, up);
  }

  /** Counts requests, their latency and their errors; the same plugin for the gateway, the directory and organizations. */
  plugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
    const countError = (extensions: Record<string, unknown> | undefined) => this.errors.inc({ code: this.errorCodes.of(codeOf(extensions)) });
    return {
      contextCreationDidFail: async ({ error }) => countError((error as { extensions?: Record<string, unknown> }).extensions),
      requestDidStart: async () => {
        const done = this.operations.startTimer();
        return {
          willSendResponse: async ({ operation, response }) => {
            done({
              operation_type: operation?.operation ?? '(none)',
              operation_name: operation === undefined ? '(none)' : operation.name === undefined ? '(anonymous)' : this.operationNames.of(operation.name.value),
            });
            if (response.body.kind === 'single') for (const error of response.body.singleResult.errors ?? []) countError(error.extensions);
          },
        };
      },
    };
  }

  /**
   * A gauge read when scraped (each its own read: prom-client collects metrics concurrently).
   * One that cannot be read now (store or NATS unreachable, stream not created yet) is NaN: the
   * scrape, with every other metric, still succeeds.
   */
  protected gauge(name: string, help: string, read: () => number | Promise<number>): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(
          await Promise.resolve()
            .then(read)
            .catch(() => NaN),
        );
      },
    });
  }

  /** A counter the service keeps itself, read when scraped. */
  protected counter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** Serves `/metrics` (and nothing else); resolves with its URL. */
  async serve(at: MetricsListen): Promise<string> {
    this.server = createServer((req, res) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      const registry = Registry.merge([processRegistry(), this.registry]);
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    return new URL('/metrics', await listen(this.server, at.port, at.host)).href;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** What the gateway's metrics read from the gateway when scraped. */
export interface GatewayMetricsSources {
  /** Subscriptions being served. */
  subscriptions: () => number;
  /** Executions of their events running: one per distinct live subscription, one per subscription replaying after a cursor. */
  executions: () => number;
  composition: () => {
    /** Members in the supergraph, unreachable ones (composed from the template) included. */
    composed: number;
    unreachable: number;
    refused: number;
    /** Composition rounds since start, and how many failed (the last good supergraph was kept). */
    rounds: number;
    failures: number;
    /** When a round last succeeded. */
    lastSuccess: Date | null;
  };
}

/** The gateway's metrics: operations, subscriptions and their delivery lag, composition. */
export class GatewayMetrics extends ServiceMetrics {
  private readonly deliveries = new Counter({
    name: 'twinx_subscription_deliveries_total',
    help: 'Events sent to subscribers (one per subscriber).',
    registers: [this.registry],
  });
  private readonly deliveryLag = new Histogram({
    name: 'twinx_subscription_delivery_lag_seconds',
    help: 'From an event (its time) until it was sent to its subscribers, once per event and group of identical subscriptions; resumed: replayed after a cursor.',
    labelNames: ['resumed'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
    registers: [this.registry],
  });

  constructor(sources: GatewayMetricsSources) {
    super();
    this.gauge('twinx_subscriptions_open', 'Subscriptions being served.', sources.subscriptions);
    this.gauge(
      'twinx_subscription_executions',
      "Executions of subscriptions' events running: one per distinct live subscription (shared by identical ones), one per subscription replaying after a cursor.",
      sources.executions,
    );
    new Gauge({
      name: 'twinx_composition_members',
      help: 'Members in the last composition: composed (unreachable ones, composed from the template, included), unreachable, refused.',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const { composed, unreachable, refused } = sources.composition();
        this.set({ state: 'composed' }, composed);
        this.set({ state: 'unreachable' }, unreachable);
        this.set({ state: 'refused' }, refused);
      },
    });
    this.counter(
      'twinx_compositions_total',
      'Composition rounds (registry and members read, composed when anything changed).',
      () => sources.composition().rounds,
    );
    this.counter(
      'twinx_composition_failures_total',
      'Composition rounds that failed (registry unreadable...): the last good supergraph was kept.',
      () => sources.composition().failures,
    );
    this.gauge(
      'twinx_composition_last_success_timestamp_seconds',
      'When a composition round last succeeded (0: never).',
      () => (sources.composition().lastSuccess?.getTime() ?? 0) / 1000,
    );
  }

  /** An event sent to `subscribers` subscribers of one group. */
  delivered(event: { at: string }, subscribers: number, resumed: boolean): void {
    this.deliveries.inc(subscribers);
    this.deliveryLag.observe({ resumed: String(resumed) }, (Date.now() - Date.parse(event.at)) / 1000);
  }
}

/** What an organization's metrics read from it when scraped. */
export interface OrgMetricsSources {
  /** Events in the outbox not yet published, and when the oldest of them was committed. */
  outbox: () => Promise<{ pending: number; oldest: Date | null }>;
  /** Device messages waiting for the ingest consumer (not delivered yet, delivered but not acknowledged). */
  ingestBacklog: () => Promise<{ pending: number; unacknowledged: number }>;
}

/** An access as the audit log records it. */
interface Access {
  partner: string;
  action: string;
  allowed: boolean;
  /** False when the partner is only what a refused token claimed. */
  claimsVerified: boolean;
}

/** An organization's metrics: operations, device ingest, outbox, partners' accesses. */
export class OrgMetrics extends ServiceMetrics {
  /** Only partners whose grants the organization signed; bounded anyway, as their number is the organization's business. */
  private readonly partners = new BoundedLabel(1000);
  private readonly batches = new Counter({ name: 'twinx_ingest_batches_total', help: 'Device batches stored.', registers: [this.registry] });
  private readonly readings = new Counter({
    name: 'twinx_ingest_readings_total',
    help: 'Readings of device batches stored: accepted (new) or duplicate (stored before).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly ingestLag = new Histogram({
    name: 'twinx_ingest_lag_seconds',
    help: 'From a device batch reaching the ingest stream until it was stored.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly deadLetters = new Counter({
    name: 'twinx_ingest_dead_letters_total',
    help: 'Device messages dead-lettered, by error code.',
    labelNames: ['code'],
    registers: [this.registry],
  });
  private readonly accesses = new Counter({
    name: 'twinx_partner_accesses_total',
    help: 'Partner accesses as the audit log records them (requests here, deliveries and refusals reported by gateways), by partner (claims not verified: "(unverified)"), action and outcome.',
    labelNames: ['partner', 'action', 'outcome'],
    registers: [this.registry],
  });

  constructor(sources: OrgMetricsSources) {
    super();
    this.gauge(
      'twinx_outbox_pending_events',
      'Events committed but not yet published to NATS (NaN: store unreachable).',
      async () => (await sources.outbox()).pending,
    );
    this.gauge('twinx_outbox_oldest_pending_age_seconds', 'Age of the oldest event not yet published (0: none).', async () => {
      const { oldest } = await sources.outbox();
      return oldest === null ? 0 : (Date.now() - oldest.getTime()) / 1000;
    });
    const backlog = {
      pending: 'Device messages waiting for the ingest consumer (NaN: consumer unreachable, e.g. the organization not added yet).',
      unacknowledged: 'Device messages delivered to the ingest consumer and not yet acknowledged (NaN: consumer unreachable).',
    };
    for (const [field, help] of Object.entries(backlog) as [keyof typeof backlog, string][])
      this.gauge(`twinx_ingest_consumer_${field}_messages`, help, async () => (await sources.ingestBacklog())[field]);
  }

  /** Device batches stored (in one transaction or several), `publishedAt` when each reached the stream. */
  ingested(accepted: number, duplicates: number, publishedAt: readonly Date[]): void {
    this.batches.inc(publishedAt.length);
    this.readings.inc({ result: 'accepted' }, accepted);
    this.readings.inc({ result: 'duplicate' }, duplicates);
    const now = Date.now();
    for (const at of publishedAt) this.ingestLag.observe((now - at.getTime()) / 1000);
  }

  deadLettered(code: string): void {
    this.deadLetters.inc({ code });
  }

  /** Accesses recorded in the audit log, each standing for `count` of them. */
  accessed(entries: readonly (Access & { count?: number })[]): void {
    for (const { partner, action, allowed, claimsVerified, count = 1 } of entries) {
      this.accesses.inc({ partner: claimsVerified ? this.partners.of(partner) : '(unverified)', action, outcome: allowed ? 'allowed' : 'refused' }, count);
    }
  }
}
