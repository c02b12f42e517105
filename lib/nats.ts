import {
  AckPolicy,
  DiscardPolicy,
  jetstream,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  type ConsumeOptions,
  type Consumer,
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
 * How often a connection pings its server, in ms: a server that stopped answering without closing
 * the connection (hung, or cut off by the network) is found out after two pings unanswered, about
 * 20 to 30 s (the client's default, 2 minutes, left such a service reporting NATS up for 6).
 */
const PING_INTERVAL_MS = 10_000;

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
  const nats = await connect({
    servers: servers.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: PING_INTERVAL_MS,
    maxPingOut: 2,
    ignoreAuthErrorAbort: true,
    ...auth,
  });
  follow(nats);
  return nats;
}

/**
 * Closes a connection as its process stops: drained (what it publishes is sent, its subscriptions
 * finish what they hold) within `drainMs`, else closed. A connection whose server cannot be
 * reached is closed at once: a drain would wait for it without end (a hung server), or fail and
 * leave the connection reconnecting without end; either keeps the process alive.
 */
export async function closeNats(nats: NatsConnection, logger: Logger, drainMs = 5000): Promise<void> {
  if (nats.isClosed()) return;
  if (natsConnected(nats)) {
    const drained = nats.drain().then(
      () => 'drained' as const,
      (error: unknown) => error,
    );
    const outcome = await Promise.race([drained, sleep(drainMs, 'late' as const, { ref: false })]);
    if (outcome === 'drained') return;
    logger.warn(outcome === 'late' ? { drainMs } : { err: outcome }, 'NATS connection not drained: closed');
  }
  await nats.close();
}

/** When each connection (re)connected last; null while it is disconnected (it reconnects by itself). */
const connectedSince = new WeakMap<NatsConnection, number | null>();

/** Follows a connection's disconnections and reconnections from now on. */
function follow(nats: NatsConnection): void {
  connectedSince.set(nats, Date.now());
  void (async () => {
    for await (const status of nats.status()) {
      if (status.type === 'disconnect') connectedSince.set(nats, null);
      else if (status.type === 'reconnect') connectedSince.set(nats, Date.now());
    }
  })();
}

/** Since when the connection is up (ms), or null while it is down or closed. */
function upSince(nats: NatsConnection): number | null {
  if (!connectedSince.has(nats)) follow(nats);
  return nats.isClosed() ? null : connectedSince.get(nats)!;
}

/** Whether the connection to NATS is up now (`/readyz`, metrics). */
export function natsConnected(nats: NatsConnection): boolean {
  return upSince(nats) !== null;
}

/**
 * How every consumer here pulls: requests that expire after 1 s, with idle heartbeats every
 * 500 ms (the client's minimums). After NATS comes back, the client checks each consumer again
 * (and recreates an ordered one, which a restarted server no longer has); a recreated ordered
 * consumer then asks for too few messages (the client keeps counting the requests that died with
 * the old one) and waits until its requests expire or two heartbeats are missed. With the
 * defaults (30 s, 15 s) that was about 45 s of silence; with these, about 2 s.
 */
const CONSUME: ConsumeOptions = { expires: 1000, idle_heartbeat: 500 };

/** A consumer's messages, and whether they are flowing. */
export interface LiveMessages {
  messages: ConsumerMessages;
  /**
   * True while the connection is up and the server has answered the consumer since it (re)connected
   * (a pull, a heartbeat), with no heartbeat missed since.
   */
  readonly consuming: boolean;
}

/** Consumes with {@link CONSUME}, following the consumer's notifications to tell whether its messages flow. */
export async function consumeLive(nats: NatsConnection, consumer: Consumer, maxMessages?: number): Promise<LiveMessages> {
  const messages = await consumer.consume({ ...CONSUME, max_messages: maxMessages });
  let answeredAt = Date.now();
  let stalled = false;
  void (async () => {
    for await (const status of messages.status()) {
      if (status.type === 'heartbeats_missed') stalled = true;
      else if (status.type === 'heartbeat' || status.type === 'next' || status.type === 'ordered_consumer_recreated') {
        stalled = false;
        answeredAt = Date.now();
      }
    }
  })();
  return {
    messages,
    get consuming() {
      const since = upSince(nats);
      return since !== null && answeredAt >= since && !stalled;
    },
  };
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

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * The sizes of the network's streams an operator chooses (`twinx directory serve`). Every stream
 * has a size, so that the disk a network's JetStream takes is bounded by their sum whatever its
 * members publish (the network's NATS account refuses a stream without one:
 * lib/bus/credentials.ts).
 */
export interface StreamLimits {
  /** Bytes of events kept, every organization's together; the oldest go first. @default 8 GiB */
  eventsMaxBytes: number;
  /** Bytes of device telemetry waiting to be stored, per organization; beyond it devices' publishes are refused. @default 1 GiB */
  ingestMaxBytes: number;
  /** Largest device message (one batch), in bytes; nats-server's own `max_payload` (1 MiB by default) applies too. @default 1 MiB */
  ingestMaxMessageBytes: number;
}

const DEFAULT_STREAM_LIMITS: StreamLimits = { eventsMaxBytes: 8 * GiB, ingestMaxBytes: GiB, ingestMaxMessageBytes: MiB };

/**
 * Fixed limits of the other streams: what the messages on them can be (lib/events.ts bounds
 * every field of events and announcements), and how much of them is worth keeping.
 */
const FIXED_LIMITS = {
  /** The largest event (100 metrics, 100 suppliers, 32 tags) is about 30 KiB, plus its signature. */
  eventBytes: 64 * 1024,
  /** A revocation or key retirement is well under 1 KiB, plus its signature. */
  revocationBytes: 16 * 1024,
  revocationsMaxBytes: 256 * MiB,
  /** Announcements kept per organization (its own subject): one flooding its subject drops only its own oldest. */
  revocationsPerOrg: 10_000,
  /** What the reason and origin headers add to a dead-lettered device message. */
  deadLetterHeaderBytes: 4096,
  deadLettersMaxBytes: 256 * MiB,
  accessReportsMaxBytes: 256 * MiB,
};

/**
 * Makes sure the network's shared streams and the directory's consumers exist, with these
 * limits (an existing stream is brought to them). The network operator's services do it:
 * nobody else may create, change or purge a stream or a consumer.
 */
export async function ensureNetworkStreams(nats: NatsConnection, subjectPrefix: string, limits: Partial<StreamLimits> = {}): Promise<void> {
  const names = natsNames(subjectPrefix);
  const jsm = await jetstreamManager(nats);
  // Two minutes of server-side dedupe by Nats-Msg-Id covers a publisher crashing between
  // publishing and recording it (and bounds replays: see lib/bus/signing.ts); retention bounds
  // how far back a subscriber can resume (older: CURSOR_EXPIRED). Full, the oldest events go
  // (discard old): an organization publishing from its outbox is never refused, whatever another
  // one publishes. No limit per subject: a subscriber resuming is owed every event of a twin, and
  // a member names its own twins, so such a limit would bound nothing.
  await ensureStream(jsm, {
    name: names.eventsStream,
    subjects: [names.eventsSubjects],
    max_age: 7 * DAY_NS,
    duplicate_window: DEDUPE_WINDOW_NS,
    max_bytes: limits.eventsMaxBytes ?? DEFAULT_STREAM_LIMITS.eventsMaxBytes,
    max_msg_size: FIXED_LIMITS.eventBytes,
    discard: DiscardPolicy.Old,
  });
  // Kept longer than any token lives (grants: at most 366 days). Each organization announces on
  // a subject of its own, so a limit per subject keeps one from pushing out the others'
  // announcements; a dropped announcement is still learnt from its owner's revocation list
  // (read every minute).
  await ensureStream(jsm, {
    name: names.revocationsStream,
    subjects: [names.revocationsSubjects],
    max_age: 400 * DAY_NS,
    duplicate_window: DEDUPE_WINDOW_NS,
    max_bytes: FIXED_LIMITS.revocationsMaxBytes,
    max_msgs_per_subject: FIXED_LIMITS.revocationsPerOrg,
    max_msg_size: FIXED_LIMITS.revocationBytes,
    discard: DiscardPolicy.Old,
  });
  // Applied in order, one at a time.
  const inOrder = { ack_policy: AckPolicy.Explicit, max_ack_pending: 1 };
  await ensureConsumer(jsm, names.eventsStream, { durable_name: DURABLES.catalog, filter_subject: names.lifecycleFilter, ...inOrder });
  await ensureConsumer(jsm, names.revocationsStream, { durable_name: DURABLES.revocations, filter_subject: names.revocationsSubjects, ...inOrder });
}

/**
 * Makes sure the streams of one member exist (its devices' telemetry, its dead letters, gateways'
 * reports to it), with their consumers and these limits (an existing stream is brought to them).
 * Each is the member's own: what one member's devices or subgraph publish never takes another's room.
 */
export async function ensureMemberStreams(nats: NatsConnection, subjectPrefix: string, org: string, limits: Partial<StreamLimits> = {}): Promise<void> {
  const names = natsNames(subjectPrefix);
  const ingestMaxMessageBytes = limits.ingestMaxMessageBytes ?? DEFAULT_STREAM_LIMITS.ingestMaxMessageBytes;
  const jsm = await jetstreamManager(nats);
  // A work queue: each batch is stored by one replica of the organization's subgraph, then
  // removed. Full (the organization down for long, or its devices flooding), new batches are
  // refused (discard new): a device sees its publish fail and keeps its readings, where dropping
  // the oldest would lose readings already accepted.
  await ensureStream(jsm, {
    name: names.ingestStream(org),
    subjects: [names.ingestSubject(org)],
    retention: RetentionPolicy.Workqueue,
    max_age: 7 * DAY_NS,
    max_bytes: limits.ingestMaxBytes ?? DEFAULT_STREAM_LIMITS.ingestMaxBytes,
    max_msg_size: ingestMaxMessageBytes,
    discard: DiscardPolicy.New,
  });
  // Full, the oldest dead letters go (discard old): dead-lettering must never fail, or a bad
  // message would stay in the ingest queue.
  await ensureStream(jsm, {
    name: names.deadLetterStream(org),
    subjects: [names.deadLetterSubject(org)],
    max_age: 30 * DAY_NS,
    max_bytes: FIXED_LIMITS.deadLettersMaxBytes,
    max_msg_size: ingestMaxMessageBytes + FIXED_LIMITS.deadLetterHeaderBytes,
    discard: DiscardPolicy.Old,
  });
  // A week covers an organization's outage; the dedupe by Nats-Msg-Id (the report id) covers a
  // gateway's retry, the organization's store covers the rest. Full, the oldest reports go
  // (discard old): a gateway never waits on an organization that does not read its reports.
  await ensureStream(jsm, {
    name: names.accessReportStream(org),
    subjects: [names.accessReportSubject(org)],
    max_age: ACCESS_REPORT_LIMITS.keptDays * DAY_NS,
    duplicate_window: DEDUPE_WINDOW_NS,
    max_bytes: FIXED_LIMITS.accessReportsMaxBytes,
    max_msg_size: ACCESS_REPORT_LIMITS.bytes,
    discard: DiscardPolicy.Old,
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

/** A consumer of a stream that keeps consuming: `consuming` while its stream exists and its messages flow (not while NATS is down). */
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
  let live: LiveMessages | undefined;
  let stopped = false;
  const stop = new AbortController();
  const done = (async () => {
    while (!stopped) {
      try {
        live = await consumeLive(options.nats, await jetstream(options.nats).consumers.get(options.stream, options.durable), options.maxMessages);
        // Stopping is queued to the messages' iterator: it takes effect in the loop below.
        if (stopped) live.messages.stop();
        for await (const message of live.messages) await options.handle(message);
        if (!stopped) throw new Error('the consumer stopped delivering');
      } catch (error) {
        live = undefined;
        log.warn({ err: error }, 'not consuming (are the stream and its consumer there? has the network operator added this organization?), will retry');
        await sleep(options.retryMs ?? 2000, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    }
  })();
  return {
    get consuming() {
      return (live?.consuming ?? false) && !stopped;
    },
    async stop() {
      stopped = true;
      stop.abort();
      live?.messages.stop();
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
