// Steady traffic through a network started with the CLI (test/support/cli-network.ts), for the
// fault-injection test and benchmark (issue 11): machines whose devices publish readings over
// JetStream, dashboards subscribed over graphql-ws that resume after their last cursor whenever
// they are cut off, what every service's /readyz says meanwhile, and at the end what JetStream
// holds (readings waiting, STATE events owed) to check that nothing was lost or repeated.
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createClient } from 'graphql-ws';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { decodePositionCursor } from '../../lib/cursor.ts';
import { natsNames, type NatsConnection } from '../../lib/nats.ts';
import { tokenHeaders } from '../../lib/tokens/headers.ts';
import { createOrgDb } from '../../subgraphs/org/db.ts';
import type { CliNetwork, ServiceProcess } from './cli-network.ts';
import { graphql } from './graphql.ts';
import { eventually } from './services.ts';

/**
 * Starts every service of the network: the directory first (it creates the network's streams),
 * then the rest; resolves once organizations consume their devices' readings and gateways have
 * composed every member.
 */
export async function startServices(network: CliNetwork): Promise<void> {
  const { directory, orgs, gateways } = network;
  directory.start();
  await directory.ready();
  for (const service of [...Object.values(orgs), ...gateways]) service.start();
  for (const org of Object.values(orgs)) await org.ready((body) => body.deviceIngest === true);
  const members = Object.keys(orgs).length;
  for (const gateway of gateways) await gateway.ready((body) => (body.members as string[]).length === members);
}

/** The id of an organization's `i`-th machine (1-based): each has one metric, `temp`. */
export const machineId = (org: string, i: number) => `${org}:m-${i}`;

/** Creates `count` machines in each organization, as its administrator. */
export async function createMachines(network: CliNetwork, orgs: readonly string[], count: number): Promise<void> {
  for (const org of orgs) {
    for (let i = 1; i <= count; i++) {
      const created = await graphql(
        network.orgs[org]!.url,
        `mutation ($input: TwinInput!) { ${org} { createTwin(input: $input) { id } } }`,
        { input: { id: machineId(org, i), name: `machine ${i}`, kind: 'mill', metrics: [{ name: 'temp', unit: 'C' }] } },
        tokenHeaders([network.adminTokens[org]!]),
      );
      if (created.errors) throw new Error(JSON.stringify(created.errors));
    }
  }
}

/** Devices publishing readings until stopped. */
export interface Devices {
  /** When JetStream took each reading (`performance.now()`), by value: values are numbered across the network. */
  readonly sentAt: Map<number, number>;
  /** Readings JetStream took, and readings it refused (the device keeps those: not sent, so not lost). */
  readonly readings: { sent: number; refused: number };
  /** Stops publishing; resolves once every device has stopped. */
  stop(): Promise<void>;
}

export interface DevicesOptions {
  orgs: readonly string[];
  /** Machines per organization (`createMachines`). */
  machines: number;
  /** Readings per second from all devices together. */
  rate: number;
  /**
   * Batches per second from each organization's device.
   * @default 10
   */
  batchesPerSecond?: number;
}

/**
 * A device per organization publishing, at a steady pace, batches of readings of its machines in
 * turn (each reading a STATE event), every value distinct so a subscriber's event names its reading.
 */
export async function startDevices(network: CliNetwork, { orgs, machines, rate, batchesPerSecond = 10 }: DevicesOptions): Promise<Devices> {
  const names = natsNames(network.subjectPrefix);
  const sentAt = new Map<number, number>();
  const readings = { sent: 0, refused: 0 };
  const perBatch = Math.max(1, Math.round(rate / orgs.length / batchesPerSecond));
  const base = Date.now() - 86_400_000;
  let running = true;
  let next = 1;
  const connections = await Promise.all(orgs.map((org) => network.connectAs({ kind: 'device', org, device: 'steady' }, `device-${org}`)));
  const loops = orgs.map(async (org, o) => {
    const js = jetstream(connections[o]!);
    const started = Date.now();
    for (let batch = 1; running; batch++) {
      const values = Array.from({ length: perBatch }, () => next++);
      const body = JSON.stringify({
        readings: values.map((value, i) => ({
          twinId: machineId(org, (((batch - 1) * perBatch + i) % machines) + 1),
          metric: 'temp',
          at: new Date(base + value).toISOString(),
          value,
        })),
      });
      const at = performance.now();
      try {
        await js.publish(names.ingestSubject(org), body, { timeout: 2000 });
        for (const value of values) sentAt.set(value, at);
        readings.sent += values.length;
      } catch {
        readings.refused += values.length;
      }
      // Paced on the clock, not on the publish: a slow acknowledgement does not lower the rate.
      await sleep(Math.max(0, started + (batch * 1000) / batchesPerSecond - Date.now()));
    }
  });
  return {
    sentAt,
    readings,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A dashboard subscribed to one organization's STATE events through one gateway. */
export interface ResumingSubscriber {
  readonly name: string;
  readonly org: string;
  readonly gateway: ServiceProcess;
  /** The stream sequence of every event received, in the order received. */
  readonly received: number[];
  /** Connections made: the first, and one per resume. */
  readonly sessions: number;
  /** Distinct errors and close codes seen. */
  readonly errors: Set<string>;
  /** When (`performance.now()`) it first received an event of a reading JetStream took after `since`. */
  freshAfter(since: number): number | undefined;
  /** Stops resuming and closes its connection; resolves once its last session has ended. */
  finish(): Promise<void>;
}

export interface ResumingSubscriberOptions {
  name: string;
  org: string;
  gateway: ServiceProcess;
  /** The token it presents (an administrator's of `org`: it receives that organization's events). */
  token: string;
  /** The cursor it starts after (`endOfStream`). */
  after: string;
  /** The devices' `sentAt`, to tell fresh events and latencies. */
  sentAt: Map<number, number>;
  /** Called with each event's latency from the device's publish, in ms. */
  onLatency?: (ms: number) => void;
}

const STATE_EVENTS = `subscription($after: String) { twinEvents(filter: { types: [STATE] }, after: $after) { cursor state { metrics { value } } } }`;

/**
 * Subscribes, and whenever the subscription ends (the gateway went away, an error) subscribes
 * again after the last cursor it received, as a dashboard does: what it missed is replayed.
 */
/** A client's back-off before it resumes after its last cursor, in ms. */
const RESUME_BACKOFF_MS = 250;

export function resumingSubscriber({ name, org, gateway, token, after, sentAt, onLatency }: ResumingSubscriberOptions): ResumingSubscriber {
  /** The first event received of each later reading: sent times strictly increase. */
  const fresh: { sent: number; received: number }[] = [];
  let cursor = after;
  let finishing = false;
  let endSession: () => void = () => undefined;
  let dispose: () => void | Promise<void> = () => undefined;
  const subscriber = {
    name,
    org,
    gateway,
    received: [] as number[],
    sessions: 0,
    errors: new Set<string>(),
    freshAfter: (since: number) => fresh.find((f) => f.sent > since)?.received,
    finish: async () => {
      finishing = true;
      endSession();
      await dispose();
      await loop;
    },
  };
  const loop = (async () => {
    while (!finishing) {
      subscriber.sessions++;
      const client = createClient({
        url: gateway.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: tokenHeaders([token]),
        retryAttempts: 0,
        lazy: true,
      });
      dispose = () => client.dispose();
      await new Promise<void>((resolve) => {
        endSession = resolve;
        client.subscribe<{ twinEvents: { cursor: string; state: { metrics: { value: number }[] } } }>(
          { query: STATE_EVENTS, variables: { after: cursor } },
          {
            next: ({ data, errors }) => {
              if (errors) subscriber.errors.add(JSON.stringify(errors.map((e) => e.extensions?.code ?? e.message)));
              if (!data || finishing) return;
              subscriber.received.push(decodePositionCursor('event', data.twinEvents.cursor));
              cursor = data.twinEvents.cursor;
              const sent = sentAt.get(data.twinEvents.state.metrics[0]!.value);
              if (sent === undefined) return;
              const now = performance.now();
              if (fresh.length === 0 || fresh.at(-1)!.sent < sent) fresh.push({ sent, received: now });
              if (fresh.length > 1000) fresh.splice(0, 500);
              onLatency?.(now - sent);
            },
            error: (error) => {
              // A close event (its code), an error event (no connection), or an Error.
              const { code, message } = error as { code?: number; message?: string };
              subscriber.errors.add(code !== undefined ? `close ${code}` : (message ?? 'no connection'));
              resolve();
            },
            complete: resolve,
          },
        );
      });
      await client.dispose();
      if (!finishing) await sleep(RESUME_BACKOFF_MS);
    }
  })();
  return subscriber;
}

/**
 * What each service's /readyz answered, polled every `intervalMs` until `until` settles: distinct
 * answers per service, each its status (`down` when nothing answered) and what it reported
 * missing — `key=false` checks, and members the gateway cannot reach (`unreachable=[…]`).
 */
export async function watchReadiness(services: ServiceProcess[], until: Promise<unknown>, intervalMs = 500): Promise<Record<string, Set<string>>> {
  const seen: Record<string, Set<string>> = {};
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    await Promise.all(
      services.map(async (service) => {
        const { status, body } = await service.readiness();
        (seen[service.name] ??= new Set()).add(readinessSummary(status, body));
      }),
    );
    if (!done) await sleep(intervalMs);
  }
  return seen;
}

/**
 * `200`, `503 (nats=false)`, `200 (directory=false, unreachable=[acme])`; `down` when nothing
 * listens, `timeout` when the service did not answer in time.
 */
function readinessSummary(status: number, body: unknown): string {
  if (status === 0) return String(body).includes('ECONNREFUSED') ? 'down' : 'timeout';
  const missing =
    typeof body === 'object' && body !== null
      ? Object.entries(body).flatMap(([key, value]) => {
          if (value === false) return [`${key}=false`];
          if (key === 'unreachable' && Array.isArray(value) && value.length > 0) return [`unreachable=[${value.join(',')}]`];
          return [];
        })
      : [String(body).slice(0, 40)];
  return `${status}${missing.length ? ` (${missing.join(', ')})` : ''}`;
}

/**
 * Resolves once every organization has stored (or dead-lettered) every reading JetStream took
 * and published every event its outbox holds: what is in the stores and streams is then final.
 */
export async function settled(network: CliNetwork, orgs: readonly string[], timeout: number): Promise<void> {
  const names = natsNames(network.subjectPrefix);
  const jsm = await jetstreamManager(await operator(network));
  const dbs = orgs.map((org) => createOrgDb({ databaseUrl: network.orgDatabaseUrls[org]!, poolSize: 1 }));
  try {
    await eventually(
      async () => {
        for (const [i, org] of orgs.entries()) {
          // Readings first: a reading's events enter the outbox in the transaction that stores it.
          const info = await jsm.consumers.info(names.ingestStream(org), 'org-ingest');
          const waiting = info.num_pending + info.num_ack_pending;
          const unpublished = await dbs[i]!.outboxEvent.count({ where: { publishedAt: null } });
          if (waiting + unpublished > 0) throw new Error(`${org}: ${waiting} device messages waiting, ${unpublished} events unpublished`);
        }
      },
      { timeout, interval: 100 },
    );
  } finally {
    await Promise.all(dbs.map((db) => db.$disconnect()));
  }
}

/** Readings stored in the organizations' stores, and messages in their dead-letter streams. */
export async function storedReadings(network: CliNetwork, orgs: readonly string[]): Promise<{ stored: number; deadLetters: number }> {
  const names = natsNames(network.subjectPrefix);
  const jsm = await jetstreamManager(await operator(network));
  let stored = 0;
  let deadLetters = 0;
  for (const org of orgs) {
    const db = createOrgDb({ databaseUrl: network.orgDatabaseUrls[org]!, poolSize: 1 });
    stored += await db.reading.count();
    await db.$disconnect();
    deadLetters += (await jsm.streams.info(names.deadLetterStream(org))).state.messages;
  }
  return { stored, deadLetters };
}

/** The stream sequences of the STATE events after `cursor`, by organization, in stream order: what each subscriber is owed. */
export async function stateEvents(network: CliNetwork, cursor: string): Promise<Map<string, number[]>> {
  const consumer = await jetstream(await operator(network)).consumers.get(natsNames(network.subjectPrefix).eventsStream, {
    filter_subjects: `${network.subjectPrefix}.events.*.*.state`,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: decodePositionCursor('event', cursor) + 1,
  });
  const byOrg = new Map<string, number[]>();
  let pending = (await consumer.info()).num_pending;
  while (pending > 0) {
    const batch = await consumer.fetch({ max_messages: 1000, expires: 5000 });
    let got = 0;
    for await (const message of batch) {
      const org = message.subject.split('.').at(-3)!;
      let list = byOrg.get(org);
      if (!list) byOrg.set(org, (list = []));
      list.push(message.seq);
      got++;
      pending = message.info.pending;
    }
    if (got === 0) break;
  }
  return byOrg;
}

/** One operator connection per network, shared by the look-ups above (drained when the network stops). */
const operators = new WeakMap<CliNetwork, Promise<NatsConnection>>();
function operator(network: CliNetwork): Promise<NatsConnection> {
  let connection = operators.get(network);
  if (!connection) operators.set(network, (connection = network.connectAs({ kind: 'operator' }, 'traffic-operator')));
  return connection;
}
