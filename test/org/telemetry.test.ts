import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, unrestricted } from '../../subgraphs/org/access.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { ingestBatches } from '../../subgraphs/org/telemetry/ingest.ts';
import { codes } from '../support/graphql.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const INGEST = `mutation($readings: [ReadingInput!]!) { acme { ingestTelemetry(readings: $readings) { accepted duplicates stateChanges } } }`;
const STATE = `query($id: ID!) { acme { twin(id: $id) { state { status updatedAt metrics { metric unit value at inRange } } } } }`;

function ingest(readings: Record<string, unknown>[]) {
  return acme.request(INGEST, { readings });
}

async function state(id: string) {
  return (await acme.request(STATE, { id })).data.acme.twin.state;
}

function at(minute: number): string {
  return new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
}

async function twin(id: string) {
  await acme.createTwin({
    id,
    name: id,
    kind: 'furnace',
    metrics: [
      { name: 'temperature', unit: 'C', min: 0, max: 100 },
      { name: 'vibration', unit: 'mm/s' },
    ],
  });
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme', { limits: { maxIngestBatch: 100, maxPageSize: 50, maxBuckets: 100 } });
});
afterAll(() => disposers.dispose());

describe('ingest', () => {
  it('stores a batch and sets the state from the latest readings', async () => {
    await twin('acme:f-1');
    const result = await ingest([
      { twinId: 'acme:f-1', metric: 'temperature', at: at(1), value: 20 },
      { twinId: 'acme:f-1', metric: 'temperature', at: at(2), value: 25 },
      { twinId: 'acme:f-1', metric: 'vibration', at: at(1), value: 0.4 },
    ]);
    expect(result.data.acme.ingestTelemetry).toEqual({ accepted: 3, duplicates: 0, stateChanges: 1 });
    expect(await state('acme:f-1')).toEqual({
      status: 'OK',
      updatedAt: at(2),
      metrics: [
        { metric: 'temperature', unit: 'C', value: 25, at: at(2), inRange: true },
        { metric: 'vibration', unit: 'mm/s', value: 0.4, at: at(1), inRange: null },
      ],
    });
  });

  it('is idempotent: the same reading twice is stored once', async () => {
    await twin('acme:f-2');
    const batch = [
      { twinId: 'acme:f-2', metric: 'temperature', at: at(1), value: 20 },
      { twinId: 'acme:f-2', metric: 'temperature', at: at(1), value: 20 },
    ];
    expect((await ingest(batch)).data.acme.ingestTelemetry).toEqual({ accepted: 1, duplicates: 1, stateChanges: 1 });
    expect((await ingest(batch)).data.acme.ingestTelemetry).toEqual({ accepted: 0, duplicates: 2, stateChanges: 0 });
    expect(await acme.db.reading.count({ where: { twinId: 'f-2' } })).toBe(1);
  });

  it('never lets a late reading overwrite a newer state, but keeps it in the history', async () => {
    await twin('acme:f-3');
    await ingest([{ twinId: 'acme:f-3', metric: 'temperature', at: at(10), value: 50 }]);
    const late = await ingest([{ twinId: 'acme:f-3', metric: 'temperature', at: at(5), value: 150 }]);
    expect(late.data.acme.ingestTelemetry).toEqual({ accepted: 1, duplicates: 0, stateChanges: 0 });
    expect(await state('acme:f-3')).toMatchObject({ status: 'OK', updatedAt: at(10), metrics: [{ metric: 'temperature', value: 50 }] });
    expect(await acme.db.reading.count({ where: { twinId: 'f-3' } })).toBe(2);
  });

  it('raises an alert when the latest value leaves the normal range, and clears it', async () => {
    await twin('acme:f-4');
    await ingest([{ twinId: 'acme:f-4', metric: 'temperature', at: at(1), value: 120 }]);
    expect(await state('acme:f-4')).toMatchObject({ status: 'ALERT', metrics: [{ inRange: false }] });
    await ingest([{ twinId: 'acme:f-4', metric: 'temperature', at: at(2), value: 90 }]);
    expect((await state('acme:f-4')).status).toBe('OK');
    // Widening the range is a state change too.
    await ingest([{ twinId: 'acme:f-4', metric: 'temperature', at: at(3), value: 110 }]);
    await acme.request(`mutation { acme { updateTwin(id: "acme:f-4", patch: { metrics: [{ name: "temperature", unit: "C", max: 200 }] }) { id } } }`);
    expect((await state('acme:f-4')).status).toBe('OK');
  });

  it('stores batches together with the states and alerts of storing them one after the other', async () => {
    await twin('acme:f-group');
    const base = {
      names: orgNames('acme'),
      db: acme.db,
      limits: { maxIngestBatch: 100, maxPageSize: 50, maxBuckets: 100 },
      access: new Access(unrestricted('device', 'devices', ['telemetry:write']), 'acme'),
    };
    const reading = (metric: string, minute: number, value: number) => ({ twinId: 'acme:f-group', metric, at: at(minute), value });
    const result = await ingestBatches(base, [
      [reading('temperature', 1, 150)],
      [reading('vibration', 2, 0.1)],
      [reading('temperature', 3, 50)],
      // Late: stored, announces nothing.
      [reading('temperature', 0, 500)],
      [reading('temperature', 5, 120), reading('temperature', 4, 20)],
    ]);
    expect(result).toEqual({ accepted: 6, duplicates: 0, stateChanges: 1 });
    const events = await acme.db.$queryRaw<{ subject: string; status: string; temperature: number; vibration: number | null }[]>`
      SELECT subject, payload->'state'->>'status' AS status, (payload->'state'->'metrics'->0->>'value')::float8 AS temperature,
             (payload->'state'->'metrics'->1->>'value')::float8 AS vibration
        FROM "OutboxEvent" WHERE subject LIKE 'events.acme.f-group.%' AND payload->>'type' IN ('state', 'alert') ORDER BY id`;
    expect(events).toEqual([
      { subject: 'events.acme.f-group.state', status: 'ALERT', temperature: 150, vibration: null },
      { subject: 'events.acme.f-group.alert', status: 'ALERT', temperature: 150, vibration: null },
      { subject: 'events.acme.f-group.state', status: 'ALERT', temperature: 150, vibration: 0.1 },
      { subject: 'events.acme.f-group.state', status: 'OK', temperature: 50, vibration: 0.1 },
      { subject: 'events.acme.f-group.state', status: 'ALERT', temperature: 120, vibration: 0.1 },
      { subject: 'events.acme.f-group.alert', status: 'ALERT', temperature: 120, vibration: 0.1 },
    ]);
    expect(await state('acme:f-group')).toMatchObject({ status: 'ALERT', updatedAt: at(5) });
  });

  it('rejects a whole batch when one item is bad, naming the item, and stores nothing', async () => {
    await twin('acme:f-5');
    const good = { twinId: 'acme:f-5', metric: 'temperature', at: at(1), value: 1 };
    const cases: [Record<string, unknown>, string, Record<string, unknown>][] = [
      [{ twinId: 'acme:nope', metric: 'temperature', at: at(2), value: 1 }, 'UNKNOWN_TWIN', { index: 1, twinId: 'acme:nope' }],
      [{ twinId: 'globex:f-5', metric: 'temperature', at: at(2), value: 1 }, 'UNKNOWN_TWIN', { index: 1 }],
      [{ twinId: 'acme:f-5', metric: 'pressure', at: at(2), value: 1 }, 'UNKNOWN_METRIC', { index: 1, metric: 'pressure' }],
      [{ twinId: 'acme:f-5', metric: 'temperature', at: '1970-01-01T00:00:01Z', value: 1 }, 'INVALID_INPUT', { index: 1, field: 'readings.1.at' }],
      [
        { twinId: 'acme:f-5', metric: 'temperature', at: new Date(Date.now() + 3_600_000).toISOString(), value: 1 },
        'INVALID_INPUT',
        { field: 'readings.1.at' },
      ],
    ];
    for (const [bad, code, details] of cases) {
      const response = await ingest([good, bad]);
      expect(response.errors?.[0]?.extensions).toMatchObject({ code, ...details });
    }
    expect(codes(await ingest([{ ...good, at: 'yesterday' }]))).toEqual(['INVALID_INPUT']);
    expect(codes(await ingest([]))).toEqual(['INVALID_INPUT']);
    expect(await acme.db.reading.count({ where: { twinId: 'f-5' } })).toBe(0);
    expect((await state('acme:f-5')).status).toBe('UNKNOWN');
  });

  it('rejects a batch above the size limit with a clear error', async () => {
    await twin('acme:f-6');
    const readings = Array.from({ length: 101 }, (_, i) => ({
      twinId: 'acme:f-6',
      metric: 'temperature',
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      value: i,
    }));
    const response = await ingest(readings);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BATCH_TOO_LARGE', limit: 100, size: 101 });
    expect(await acme.db.reading.count({ where: { twinId: 'f-6' } })).toBe(0);
  });
});

describe('history', () => {
  const HISTORY = `query($after: String, $order: SortOrder! = DESC, $from: DateTime, $to: DateTime) { acme { twin(id: "acme:h-1") {
    telemetry(metric: "temperature", first: 4, after: $after, order: $order, from: $from, to: $to) { edges { cursor node { at value } } pageInfo { hasNextPage endCursor } } } } }`;

  beforeAll(async () => {
    await twin('acme:h-1');
    // 10 readings, one per minute, value = minute.
    await ingest(Array.from({ length: 10 }, (_, i) => ({ twinId: 'acme:h-1', metric: 'temperature', at: at(i), value: i })));
  });

  async function allPages(order: 'ASC' | 'DESC', range: { from?: string; to?: string } = {}) {
    const values: number[] = [];
    let after: string | null = null;
    do {
      const page: any = await acme.request(HISTORY, { after, order, ...range });
      expect(page.errors).toBeUndefined();
      const connection = page.data.acme.twin.telemetry;
      values.push(...connection.edges.map((edge: any) => edge.node.value));
      after = connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null;
    } while (after);
    return values;
  }

  it('pages raw readings newest first, or oldest first, within a range', async () => {
    expect(await allPages('DESC')).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(await allPages('ASC')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await allPages('ASC', { from: at(3), to: at(8) })).toEqual([3, 4, 5, 6, 7]);
  });

  it('aggregates readings into time buckets', async () => {
    const response = await acme.request(
      `query($from: DateTime!, $to: DateTime!) { acme { twin(id: "acme:h-1") { aggregates(metric: "temperature", from: $from, to: $to, bucketSeconds: 300) { start count avg min max last } } } }`,
      { from: at(0), to: at(10) },
    );
    expect(response.data.acme.twin.aggregates).toEqual([
      { start: at(0), count: 5, avg: 2, min: 0, max: 4, last: 4 },
      { start: at(5), count: 5, avg: 7, min: 5, max: 9, last: 9 },
    ]);
  });

  it('rejects unknown metrics, bad ranges and too many buckets', async () => {
    const query = (args: string) => acme.request(`query { acme { twin(id: "acme:h-1") { aggregates(${args}) { count } } } }`);
    expect(codes(await query(`metric: "nope", from: "${at(0)}", to: "${at(1)}", bucketSeconds: 60`))).toEqual(['UNKNOWN_METRIC']);
    expect(codes(await query(`metric: "temperature", from: "${at(5)}", to: "${at(1)}", bucketSeconds: 60`))).toEqual(['INVALID_INPUT']);
    // 300 buckets: within the query cost limit, beyond this organization's maxBuckets (100).
    expect(codes(await query(`metric: "temperature", from: "${at(0)}", to: "${at(5)}", bucketSeconds: 1`))).toEqual(['INVALID_INPUT']);
    // 30,000 buckets: refused by their cost before anything runs.
    expect(codes(await query(`metric: "temperature", from: "${at(0)}", to: "${at(500)}", bucketSeconds: 1`))).toEqual(['QUERY_TOO_COMPLEX']);
    const badCursor = await acme.request(`query { acme { twin(id: "acme:h-1") { telemetry(metric: "temperature", after: "eA") { edges { cursor } } } } }`);
    expect(codes(badCursor)).toEqual(['INVALID_INPUT']);
  });
});
