import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../lib/logger.ts';
import { deleteStreams, ensureMemberStreams, natsNames } from '../../lib/nats.ts';
import { Access, unrestricted } from '../../subgraphs/org/access.ts';
import { createOrgDb } from '../../subgraphs/org/db.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { DEAD_LETTER_HEADERS, startDeviceIngest, type DeviceIngestOptions } from '../../subgraphs/org/telemetry/device-ingest.ts';
import { ingestBatches } from '../../subgraphs/org/telemetry/ingest.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;
let names: ReturnType<typeof natsNames>;

function at(second: number): string {
  return new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
}

function publish(payload: unknown) {
  const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return jetstream(acme.nats).publish(names.ingestSubject('acme'), data);
}

function readingCount(twinId: string) {
  return acme.db.reading.count({ where: { twinId } });
}

/** Waits for the next dead-lettered message (an ordered consumer: no polling). */
async function nextDeadLetter(startSeq: number) {
  const consumer = await jetstream(acme.nats).consumers.get(names.deadLetterStream('acme'), { opt_start_seq: startSeq });
  const message = await consumer.next({ expires: 10_000 });
  expect(message).not.toBeNull();
  return message!;
}

/** The organization's streams under a subject prefix of their own: a consumer there leaves the subgraph's alone. */
async function ownPrefix(suffix: string) {
  const prefix = `${acme.subjectPrefix}_${suffix}`;
  disposers.add(() => deleteStreams(acme.nats, prefix));
  await ensureMemberStreams(acme.nats, prefix, 'acme');
  return { prefix, names: natsNames(prefix) };
}

/** A device ingest consumer of its own, on a subject prefix of its own, storing through `options.ingest`. */
async function ownIngest(suffix: string, options: Pick<DeviceIngestOptions, 'ingest' | 'maxFailures' | 'onStored'>) {
  const { prefix, names: own } = await ownPrefix(suffix);
  const consuming = await startDeviceIngest({
    nats: acme.nats,
    subjectPrefix: prefix,
    org: 'acme',
    maxBatch: 100,
    logger: createLogger('test', 'silent'),
    ...options,
  });
  disposers.add(() => consuming.stop());
  return own;
}

/** What the store throws while the database is unreachable. */
function outage(): Error {
  return Object.assign(new Error("Can't reach database server"), { code: 'P1001' });
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  names = natsNames(acme.subjectPrefix);
  await acme.createTwin({ id: 'acme:oven-1', name: 'Oven', kind: 'furnace', metrics: [{ name: 'temperature', unit: 'C' }] });
});
afterAll(() => disposers.dispose());

describe('device ingest over NATS JetStream', () => {
  it('stores a published batch, once even when published twice, and acknowledges it', async () => {
    const batch = { readings: [1, 2, 3].map((s) => ({ twinId: 'acme:oven-1', metric: 'temperature', at: at(s), value: s * 10 })) };
    await publish(batch);
    await publish(batch);
    await vi.waitFor(async () => expect(await readingCount('oven-1')).toBe(3), { timeout: 10_000 });
    const twin = await acme.request(`query { acme { twin(id: "acme:oven-1") { state { metrics { value at } } } } }`);
    expect(twin.data.acme.twin.state.metrics).toEqual([{ value: 30, at: at(3) }]);
    // Work queue: acknowledged messages leave the stream.
    const jsm = await jetstreamManager(acme.nats);
    await vi.waitFor(async () => expect((await jsm.streams.info(names.ingestStream('acme'))).state.messages).toBe(0), { timeout: 10_000 });
  });

  it('dead-letters malformed and unstorable messages with the reason, and goes on with the next ones', async () => {
    await publish('{not json');
    await publish({ readings: [{ twinId: 'acme:ghost', metric: 'temperature', at: at(1), value: 1 }] });
    await publish({ readings: [{ twinId: 'acme:oven-1', metric: 'temperature', at: at(50), value: 500 }] });

    const first = await nextDeadLetter(1);
    expect(first.headers?.get(DEAD_LETTER_HEADERS.code)).toBe('INVALID_INPUT');
    expect(first.string()).toBe('{not json');
    const second = await nextDeadLetter(2);
    expect(second.headers?.get(DEAD_LETTER_HEADERS.code)).toBe('UNKNOWN_TWIN');
    expect(second.headers?.get(DEAD_LETTER_HEADERS.subject)).toBe(names.ingestSubject('acme'));
    await vi.waitFor(async () => expect(await readingCount('oven-1')).toBe(4), { timeout: 10_000 });
  });

  it('settles each bad message once it is dead-lettered: more of them than the consumer may have pending never stall good ones', async () => {
    // NATS 2.9 (the Debian server these tests run) ignores a +TERM that carries a reason: such
    // messages stayed pending, and once max_ack_pending of them were, nothing else was delivered.
    await acme.createTwin({ id: 'acme:kiln-1', name: 'Kiln', kind: 'furnace', metrics: [{ name: 'temperature', unit: 'C' }] });
    const jsm = await jetstreamManager(acme.nats);
    const consumer = () => jsm.consumers.info(names.ingestStream('acme'), 'org-ingest');
    const deadLetters = async () => (await jsm.streams.info(names.deadLetterStream('acme'))).state;
    const poison = (await consumer()).config.max_ack_pending! + 44;
    const before = await deadLetters();
    let good = 0;
    for (let i = 0; i < poison; i++) {
      // Not JSON, or an unknown metric.
      await publish(i % 2 ? `{garbage ${i}` : { readings: [{ twinId: 'acme:kiln-1', metric: 'pressure', at: at(i), value: i }] });
      if (i % 7 === 0) {
        await publish({ readings: [{ twinId: 'acme:kiln-1', metric: 'temperature', at: at(i), value: i }] });
        good++;
      }
    }

    await vi.waitFor(async () => expect(await readingCount('kiln-1')).toBe(good), { timeout: 20_000 });
    await vi.waitFor(async () => expect((await consumer()).num_ack_pending).toBe(0), { timeout: 10_000 });
    const info = await consumer();
    expect(info.num_redelivered).toBe(0);
    expect(info.num_pending).toBe(0);
    expect((await jsm.streams.info(names.ingestStream('acme'))).state.messages).toBe(0);
    // Each bad message dead-lettered once, with the ingest sequence it had.
    const after = await deadLetters();
    expect(after.messages - before.messages).toBe(poison);
    const sequences = new Set<string>();
    for (let seq = before.last_seq + 1; seq <= after.last_seq; seq++) {
      sequences.add((await jsm.streams.getMessage(names.deadLetterStream('acme'), { seq }))!.header.get(DEAD_LETTER_HEADERS.sequence));
    }
    expect(sequences.size).toBe(poison);
  });

  it('dead-letters a batch whatever its error says: a multi-line driver message becomes one header line', async () => {
    // A consumer on a subject prefix of its own, whose store fails as a driver does, with a message over several lines.
    const lines = await ownIngest('lines', {
      ingest: () => Promise.reject(new Error('\nInvalid `prisma.$queryRaw()` invocation:\r\n\n\tRaw query failed.\u0000 Code: `XX000`')),
      maxFailures: 1,
    });
    await jetstream(acme.nats).publish(lines.ingestSubject('acme'), JSON.stringify({ readings: [] }));
    const consumer = await jetstream(acme.nats).consumers.get(lines.deadLetterStream('acme'));
    const deadLetter = await consumer.next({ expires: 10_000 });
    expect(deadLetter).not.toBeNull();
    expect(deadLetter!.headers!.get(DEAD_LETTER_HEADERS.code)).toBe('INTERNAL');
    expect(deadLetter!.headers!.get(DEAD_LETTER_HEADERS.reason)).toBe(
      'Failed 1 times: Invalid `prisma.$queryRaw()` invocation: Raw query failed. Code: `XX000`',
    );
  });

  it('does not count an outage towards dead-lettering: an internal error as the store comes back is tried again', async () => {
    // The store is out for three deliveries, then fails once with an internal error (a transaction
    // the restarting server ended), then stores the batch. Only internal failures count towards the limit.
    const failures = [outage(), outage(), outage(), new Error('Transaction already closed')];
    const stored: number[] = [];
    const own = await ownIngest('outage', {
      ingest: (batches) => {
        const failure = failures.shift();
        return failure ? Promise.reject(failure) : Promise.resolve({ accepted: batches.flat().length, duplicates: 0, stateChanges: 1 });
      },
      onStored: (result) => stored.push(result.accepted),
      maxFailures: 2,
    });
    await jetstream(acme.nats).publish(
      own.ingestSubject('acme'),
      JSON.stringify({ readings: [{ twinId: 'acme:oven-1', metric: 'temperature', at: at(90), value: 1 }] }),
    );
    await vi.waitFor(() => expect(stored).toEqual([1]), { timeout: 15_000 });
    expect(failures).toEqual([]);
    const jsm = await jetstreamManager(acme.nats);
    expect((await jsm.streams.info(own.deadLetterStream('acme'))).state.messages).toBe(0);
  });

  it('dead-letters a batch once its internal failures reach the limit, an outage between them', async () => {
    const failures = [new Error('internal 1'), outage(), new Error('internal 2')];
    const own = await ownIngest('internal', { ingest: () => Promise.reject(failures.shift() ?? new Error('not expected')), maxFailures: 2 });
    await jetstream(acme.nats).publish(
      own.ingestSubject('acme'),
      JSON.stringify({ readings: [{ twinId: 'acme:oven-1', metric: 'temperature', at: at(91), value: 1 }] }),
    );
    const deadLetter = await (await jetstream(acme.nats).consumers.get(own.deadLetterStream('acme'))).next({ expires: 15_000 });
    expect(deadLetter?.headers?.get(DEAD_LETTER_HEADERS.reason)).toBe('Failed 2 times: internal 2');
    expect(failures).toEqual([]);
  });

  it('keeps a batch unacknowledged while the store is down, and stores it once the store is back', async () => {
    // The subgraph's own consumer keeps serving its subjects; this one runs on a subject
    // prefix of its own, against a store that refuses connections.
    const probe = { readings: [{ twinId: 'acme:oven-1', metric: 'temperature', at: at(100), value: 7 }] };
    const jsm = await jetstreamManager(acme.nats);
    const deadDb = createOrgDb({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/none', poolSize: 1 });
    const base = {
      names: orgNames('acme'),
      limits: { maxIngestBatch: 100, maxPageSize: 100, maxBuckets: 100 },
      access: new Access(unrestricted('device', 'devices', ['telemetry:write']), 'acme'),
    };
    const logger = createLogger('test', 'silent');
    const { prefix: otherPrefix, names: other } = await ownPrefix('down');
    const down = await startDeviceIngest({
      nats: acme.nats,
      subjectPrefix: otherPrefix,
      org: 'acme',
      ingest: (r) => ingestBatches({ ...base, db: deadDb }, r),
      maxBatch: 100,
      logger,
    });
    await jetstream(acme.nats).publish(other.ingestSubject('acme'), JSON.stringify(probe));
    await vi.waitFor(async () => expect((await jsm.consumers.info(other.ingestStream('acme'), 'org-ingest')).num_redelivered).toBeGreaterThan(0), {
      timeout: 15_000,
    });
    await down.stop();
    await deadDb.$disconnect();
    expect((await jsm.streams.info(other.ingestStream('acme'))).state.messages).toBe(1);
    expect((await jsm.streams.info(other.deadLetterStream('acme'))).state.messages).toBe(0);

    const up = await startDeviceIngest({
      nats: acme.nats,
      subjectPrefix: otherPrefix,
      org: 'acme',
      ingest: (r) => ingestBatches({ ...base, db: acme.db }, r),
      maxBatch: 100,
      logger,
    });
    disposers.add(() => up.stop());
    await vi.waitFor(async () => expect(await acme.db.reading.count({ where: { twinId: 'oven-1', value: 7 } })).toBe(1), { timeout: 15_000 });
  });

  it('stores a backlog in groups of messages, announcing the state after each message, and a bad message among them alone', async () => {
    // A backlog waits on a subject prefix of its own before its consumer starts, as after an outage.
    const { prefix, names: own } = await ownPrefix('backlog');
    const js = jetstream(acme.nats);
    const values = Array.from({ length: 60 }, (_, i) => 1000 + i);
    for (const value of values) {
      const twinId = value === 1030 ? 'acme:ghost' : 'acme:oven-1';
      // Two readings a message, the newer first: the state announced is the newer one's.
      const readings = [1, 0].map((half) => ({ twinId, metric: 'temperature', at: at(2 * value + half), value: value + half / 2 }));
      await js.publish(own.ingestSubject('acme'), JSON.stringify({ readings }));
    }
    const calls: number[] = [];
    /** When each message stored reached the stream, as the consumer reports it (the metrics count batches and their lag from it). */
    const reported: Date[] = [];
    const base = {
      names: orgNames('acme'),
      db: acme.db,
      limits: { maxIngestBatch: 100, maxPageSize: 100, maxBuckets: 100 },
      access: new Access(unrestricted('device', 'devices', ['telemetry:write']), 'acme'),
    };
    const backlog = await startDeviceIngest({
      nats: acme.nats,
      subjectPrefix: prefix,
      org: 'acme',
      ingest: (batches) => {
        calls.push(batches.flat().length);
        return ingestBatches(base, batches);
      },
      maxBatch: 50,
      onStored: (_, publishedAt) => reported.push(...publishedAt),
      logger: createLogger('test', 'silent'),
    });
    disposers.add(() => backlog.stop());
    const deadLetter = await (await js.consumers.get(own.deadLetterStream('acme'))).next({ expires: 10_000 });
    expect(deadLetter!.headers!.get(DEAD_LETTER_HEADERS.code)).toBe('UNKNOWN_TWIN');
    const good = values.filter((value) => value !== 1030);
    await vi.waitFor(
      async () => {
        expect(await acme.db.reading.count({ where: { twinId: 'oven-1', value: { gte: 1000 } } })).toBe(2 * good.length);
        // Every message stored is reported, grouped or not: a batch each.
        expect(reported).toHaveLength(good.length);
      },
      { timeout: 10_000 },
    );
    // Groups within the limit: far fewer transactions than messages.
    expect(Math.max(...calls)).toBeLessThanOrEqual(50);
    expect(calls.length).toBeLessThan(good.length);
    // One STATE event per message, in order, each with that message's newest reading.
    const announced = await acme.db.$queryRaw<{ value: number }[]>`
      SELECT (payload->'state'->'metrics'->0->>'value')::float8 AS value FROM "OutboxEvent"
       WHERE subject = 'events.acme.oven-1.state' AND (payload->'state'->'metrics'->0->>'value')::float8 >= 1000 ORDER BY id`;
    expect(announced.map((row) => row.value)).toEqual(good.map((value) => value + 0.5));
  });
});
