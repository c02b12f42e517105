import { AckPolicy, jetstream, JetStreamApiError, jetstreamManager, type JetStreamManager, type JsMsg, type StreamConfig } from '@nats-io/jetstream';
import { ACCESS_REPORT_LIMITS } from './events.ts';
import type { Logger } from './logger.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export type { NatsConnection };

/** Connects to NATS, reconnecting forever: a NATS outage delays work, it never stops a service. */
export function connectNats(servers: string, name: string): Promise<NatsConnection> {
  return connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
}

/** Stream names may not contain `.`, `*`, `>` or spaces. */
function streamName(...parts: string[]): string {
  return parts
    .join('_')
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .toUpperCase();
}

/**
 * Subjects below a deployment's prefix. Stores keep these (the outbox), never a prefix: the
 * prefix belongs to the deployment, not to the data.
 */
export const subjectPaths = {
  event: (org: string, localId: string, type: string) => `events.${org}.${localId}.${type}`,
  tokenRevoked: (org: string) => `revocations.${org}`,
};

/**
 * The subjects and stream names of one twinx deployment. The prefix is required with no
 * default so that two deployments cannot share channels by accident.
 */
export function natsNames(prefix: string) {
  const stream = (...parts: string[]) => streamName(prefix, ...parts);
  return {
    /** Device telemetry for one organization. */
    ingestSubject: (org: string) => `${prefix}.ingest.${org}`,
    ingestStream: (org: string) => stream('ingest', org),
    /** Device messages that could not be ingested, with the reason in headers. */
    deadLetterSubject: (org: string) => `${prefix}.deadletter.ingest.${org}`,
    deadLetterStream: (org: string) => stream('deadletter', org),
    /** Events about one twin: `<prefix>.events.<org>.<local-id>.<type>` (`twin`, `state`, `alert`). */
    eventSubject: (org: string, localId: string, type: string) => `${prefix}.${subjectPaths.event(org, localId, type)}`,
    /** Every organization's twin lifecycle events (what the directory's catalog follows). */
    lifecycleFilter: `${prefix}.events.*.*.twin`,
    eventsStream: stream('events'),
    eventsSubjects: `${prefix}.events.>`,
    revocationsStream: stream('revocations'),
    revocationsSubjects: `${prefix}.revocations.>`,
    /** What gateways report to an organization of its partners' accesses there (deliveries, refused tokens). */
    accessReportSubject: (org: string) => `${prefix}.audit.${org}`,
    accessReportStream: (org: string) => stream('audit', org),
    /** Membership of the network changed (core NATS: gateways also poll the registry). */
    networkChangedSubject: `${prefix}.network.changed`,
  };
}

/** JetStream API error code (JetStreamApiCodes.StreamNotFound). */
const STREAM_NOT_FOUND = 10059;

/** Creates the stream, or brings an existing one to this configuration. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND)) throw error;
    await jsm.streams.add(config);
  }
}

/** A day in nanoseconds, the unit of JetStream durations. */
export const DAY_NS = 24 * 3600 * 1e9;

/** Makes sure the network's event streams exist (idempotent: every service may call it). */
export async function ensureEventStreams(nats: NatsConnection, subjectPrefix: string): Promise<void> {
  const names = natsNames(subjectPrefix);
  const jsm = await jetstreamManager(nats);
  // Two minutes of server-side dedupe by Nats-Msg-Id covers a publisher crashing between
  // publishing and recording it; retention bounds how far back a subscriber can resume.
  await ensureStream(jsm, { name: names.eventsStream, subjects: [names.eventsSubjects], max_age: 7 * DAY_NS, duplicate_window: 120e9 });
  // Kept longer than any token lives (grants: at most 366 days).
  await ensureStream(jsm, { name: names.revocationsStream, subjects: [names.revocationsSubjects], max_age: 400 * DAY_NS, duplicate_window: 120e9 });
}

/**
 * Makes sure the stream of gateways' access reports to `org` exists (idempotent). Organizations
 * create their own for now; the network operator is to own these streams, and then calls this.
 */
export async function ensureAccessReportStream(nats: NatsConnection, subjectPrefix: string, org: string): Promise<void> {
  const names = natsNames(subjectPrefix);
  // A week covers an organization's outage; two minutes of dedupe by Nats-Msg-Id (the report id)
  // cover a gateway's retry, the organization's store covers the rest.
  await ensureStream(await jetstreamManager(nats), {
    name: names.accessReportStream(org),
    subjects: [names.accessReportSubject(org)],
    max_age: 7 * DAY_NS,
    duplicate_window: 120e9,
    max_msg_size: ACCESS_REPORT_LIMITS.bytes,
  });
}

/** Deletes every stream of a deployment's subject prefix (tests, benchmarks, teardown). */
export async function deleteStreams(nats: NatsConnection, subjectPrefix: string): Promise<void> {
  const jsm = await jetstreamManager(nats);
  const prefix = `${streamName(subjectPrefix)}_`;
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(prefix)) await jsm.streams.delete(name);
  }
}

export { jetstreamManager };

/** Options of a durable JetStream consumer. */
interface DurableConsumerOptions {
  nats: NatsConnection;
  stream: string;
  /** Durable name: replicas sharing it share the work. */
  durable: string;
  filterSubject: string;
  /** Handles one message; it is acknowledged once this resolves, redelivered if it throws. */
  handle: (message: JsMsg) => Promise<void>;
  logger: Logger;
}

/** Consumes a stream in order, each message acknowledged after it was handled. */
export async function consumeDurable(options: DurableConsumerOptions): Promise<{ stop: () => Promise<void> }> {
  const jsm = await jetstreamManager(options.nats);
  await jsm.consumers.add(options.stream, {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    filter_subject: options.filterSubject,
    max_ack_pending: 1,
  });
  const consumer = await jetstream(options.nats).consumers.get(options.stream, options.durable);
  const messages = await consumer.consume({ max_messages: 100 });
  const done = (async () => {
    for await (const message of messages) {
      try {
        await options.handle(message);
        message.ack();
      } catch (error) {
        options.logger.error({ err: error, subject: message.subject, seq: message.seq }, 'event not handled, will retry');
        message.nak(1000);
      }
    }
  })();
  return {
    async stop() {
      await messages.close();
      await done;
    },
  };
}
