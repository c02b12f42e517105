import {
  AckPolicy,
  jetstream,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS_REPORT_LIMITS } from './events.ts';
import type { Logger } from './logger.ts';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { parseCreds, type Permissions } from '@nats-io/jwt';

export type { NatsConnection };

/** The inbox prefix permissions restrict a user to (`_INBOX_<name>.>`), if any. */
export function inboxPrefixIn(permissions: Partial<Permissions> | undefined): string | undefined {
  return permissions?.sub?.allow?.find((subject) => subject.startsWith('_INBOX_') && subject.endsWith('.>'))?.slice(0, -2);
}

/**
 * Connects to NATS, reconnecting forever: a NATS outage delays work, it never stops a service;
 * credentials refused (a suspended member's) are tried again too, so that the service is back
 * once the member is activated. With credentials (the text of a `.creds` file), replies come to
 * the inbox prefix the user's permissions name, so that a service configures itself from its
 * credentials alone.
 */
export async function connectNats(servers: string, name: string, creds?: string): Promise<NatsConnection> {
  const auth = creds
    ? {
        authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
        inboxPrefix: inboxPrefixIn((await parseCreds(new TextEncoder().encode(creds))).uc.nats),
      }
    : {};
  return connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, ignoreAuthErrorAbort: true, ...auth });
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
  /** Where an organization announces that access closed: a token revoked, a key retired. */
  revocation: (org: string) => `revocations.${org}`,
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
    /** Every event of one organization. */
    orgEventSubjects: (org: string) => `${prefix}.events.${org}.>`,
    /** Every organization's twin lifecycle events (what the directory's catalog follows). */
    lifecycleFilter: `${prefix}.events.*.*.twin`,
    eventsStream: stream('events'),
    eventsSubjects: `${prefix}.events.>`,
    revocationsStream: stream('revocations'),
    revocationsSubjects: `${prefix}.revocations.>`,
    revocationSubject: (org: string) => `${prefix}.${subjectPaths.revocation(org)}`,
    /** What gateways report to an organization of its partners' accesses there (deliveries, refused tokens). */
    accessReportSubject: (org: string) => `${prefix}.audit.${org}`,
    accessReportStream: (org: string) => stream('audit', org),
    /** Membership of the network changed (core NATS: gateways also poll the registry). */
    networkChangedSubject: `${prefix}.network.changed`,
  };
}

/** JetStream API error codes (JetStreamApiCodes.StreamNotFound, ConsumerNotFound). */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

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
/** How long JetStream remembers a `Nats-Msg-Id` to drop a second copy, in ns. */
const DEDUPE_WINDOW_NS = 120e9;

/**
 * The durable consumers of the network's streams, created with them by the network operator:
 * their users may take their messages but not create consumers (a push consumer delivers where
 * its creator says, whatever that one may publish).
 */
export const DURABLES = {
  /** The directory's catalog, from every organization's lifecycle events. */
  catalog: 'directory-catalog',
  /** The directory's record of revoked tokens and retired keys. */
  revocations: 'directory-revocations',
  /** An organization's device telemetry (a work queue: replicas share it). */
  ingest: 'org-ingest',
  /** Gateways' access reports to an organization. */
  accessReports: 'org-access-reports',
} as const;

/** Creates a durable consumer unless it exists (its configuration is then left as it is). */
async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  try {
    await jsm.consumers.info(stream, config.durable_name);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === CONSUMER_NOT_FOUND)) throw error;
    await jsm.consumers.add(stream, config);
  }
}

/**
 * Makes sure the network's shared streams and the directory's consumers exist. The network
 * operator's services do it: nobody else may create, change or purge a stream or a consumer.
 */
export async function ensureNetworkStreams(nats: NatsConnection, subjectPrefix: string): Promise<void> {
  const names = natsNames(subjectPrefix);
  const jsm = await jetstreamManager(nats);
  // Two minutes of server-side dedupe by Nats-Msg-Id covers a publisher crashing between
  // publishing and recording it (and bounds replays: see lib/bus/signing.ts); retention bounds
  // how far back a subscriber can resume.
  await ensureStream(jsm, { name: names.eventsStream, subjects: [names.eventsSubjects], max_age: 7 * DAY_NS, duplicate_window: DEDUPE_WINDOW_NS });
  // Kept longer than any token lives (grants: at most 366 days).
  await ensureStream(jsm, { name: names.revocationsStream, subjects: [names.revocationsSubjects], max_age: 400 * DAY_NS, duplicate_window: DEDUPE_WINDOW_NS });
  // Applied in order, one at a time.
  const inOrder = { ack_policy: AckPolicy.Explicit, max_ack_pending: 1 };
  await ensureConsumer(jsm, names.eventsStream, { durable_name: DURABLES.catalog, filter_subject: names.lifecycleFilter, ...inOrder });
  await ensureConsumer(jsm, names.revocationsStream, { durable_name: DURABLES.revocations, filter_subject: names.revocationsSubjects, ...inOrder });
}

/** Makes sure the streams of one member exist (its devices' telemetry, its dead letters, gateways' reports to it), with their consumers. */
export async function ensureMemberStreams(nats: NatsConnection, subjectPrefix: string, org: string): Promise<void> {
  const names = natsNames(subjectPrefix);
  const jsm = await jetstreamManager(nats);
  // A work queue: each batch is stored by one replica of the organization's subgraph, then removed.
  await ensureStream(jsm, { name: names.ingestStream(org), subjects: [names.ingestSubject(org)], retention: RetentionPolicy.Workqueue, max_age: 7 * DAY_NS });
  await ensureStream(jsm, { name: names.deadLetterStream(org), subjects: [names.deadLetterSubject(org)], max_age: 30 * DAY_NS });
  // A week covers an organization's outage; the dedupe by Nats-Msg-Id (the report id) covers a
  // gateway's retry, the organization's store covers the rest.
  await ensureStream(jsm, {
    name: names.accessReportStream(org),
    subjects: [names.accessReportSubject(org)],
    max_age: ACCESS_REPORT_LIMITS.keptDays * DAY_NS,
    duplicate_window: DEDUPE_WINDOW_NS,
    max_msg_size: ACCESS_REPORT_LIMITS.bytes,
  });
  // Batches in parallel (each is idempotent); a batch not acknowledged in 30 s is delivered again.
  await ensureConsumer(jsm, names.ingestStream(org), { durable_name: DURABLES.ingest, ack_policy: AckPolicy.Explicit, ack_wait: 30e9, max_ack_pending: 256 });
  await ensureConsumer(jsm, names.accessReportStream(org), { durable_name: DURABLES.accessReports, ack_policy: AckPolicy.Explicit, max_ack_pending: 1 });
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

/** A consumer of a stream that keeps consuming: `consuming` once its stream exists and its messages are being taken. */
export interface Consuming {
  readonly consuming: boolean;
  stop(): Promise<void>;
}

/** Options of {@link keepConsuming}. */
interface KeepConsumingOptions {
  nats: NatsConnection;
  stream: string;
  /** The durable consumer (one of DURABLES): replicas sharing it share the work. */
  durable: string;
  /** Messages asked for at a time. */
  maxMessages: number;
  /** Handles one message, in order; it acknowledges it (or not) itself. */
  handle: (message: JsMsg) => Promise<void>;
  logger: Logger;
  /** How long to wait before trying again while the stream cannot be consumed (not created yet, NATS down), in ms. @default 2000 */
  retryMs?: number;
}

/**
 * Consumes a stream through its durable consumer until stopped. While they do not exist yet
 * (the network operator creates members' streams and consumers when it adds them) or cannot be
 * reached, it waits and tries again: a service starts whatever the order.
 */
export function keepConsuming(options: KeepConsumingOptions): Consuming {
  const log = options.logger.child({ stream: options.stream, consumer: options.durable });
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  const stop = new AbortController();
  const done = (async () => {
    while (!stopped) {
      try {
        messages = await (await jetstream(options.nats).consumers.get(options.stream, options.durable)).consume({ max_messages: options.maxMessages });
        if (stopped) await messages.close();
        for await (const message of messages) await options.handle(message);
        if (!stopped) throw new Error('the consumer stopped delivering');
      } catch (error) {
        messages = undefined;
        log.warn({ err: error }, 'not consuming (are the stream and its consumer there? has the network operator added this organization?), will retry');
        await sleep(options.retryMs ?? 2000, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    }
  })();
  return {
    get consuming() {
      return messages !== undefined && !stopped;
    },
    async stop() {
      stopped = true;
      stop.abort();
      await messages?.close();
      await done;
    },
  };
}

/** Consumes a stream in order through its durable consumer, each message acknowledged after it was handled (redelivered if that throws). */
export function consumeDurable(options: Omit<KeepConsumingOptions, 'maxMessages' | 'retryMs'>): Consuming {
  return keepConsuming({
    ...options,
    maxMessages: 100,
    handle: async (message) => {
      try {
        await options.handle(message);
        message.ack();
      } catch (error) {
        options.logger.error({ err: error, subject: message.subject, seq: message.seq }, 'event not handled, will retry');
        message.nak(1000);
      }
    },
  });
}
