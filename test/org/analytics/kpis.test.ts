import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes } from '../../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const T0 = Date.UTC(2026, 2, 1);
const HOUR = 3600;
/** T0 + hours, as an RFC 3339 time. */
const at = (hours: number) => new Date(T0 + hours * HOUR * 1000).toISOString();

const FAILURE = `mutation($twinId: ID!, $at: DateTime!, $note: String) { acme { recordFailure(twinId: $twinId, at: $at, note: $note) { twinId type at note recordedBy } } }`;
const REPAIR = `mutation($twinId: ID!, $at: DateTime!) { acme { recordRepair(twinId: $twinId, at: $at) { twinId type at } } }`;
const KPI_FIELDS = `from to twins uptimeSeconds downtimeSeconds availability failures mtbfSeconds repairs mttrSeconds
  statusSeconds { status seconds } oee { availability performance quality oee totalCount goodCount uptimeSeconds }`;
const TWIN_KPIS = `query($id: ID!, $from: DateTime!, $to: DateTime!) { acme { twin(id: $id) { kpis(from: $from, to: $to) { ${KPI_FIELDS} } } } }`;
const FLEET_KPIS = `query($from: DateTime!, $to: DateTime!, $kind: String) { acme { kpis(from: $from, to: $to, kind: $kind) { ${KPI_FIELDS} } } }`;

/** Time per status, in hours, as the API lists it. */
const inStatus = (unknown: number, ok: number, alert: number) => [
  { status: 'UNKNOWN', seconds: unknown * HOUR },
  { status: 'OK', seconds: ok * HOUR },
  { status: 'ALERT', seconds: alert * HOUR },
];

async function record(query: string, twinId: string, hours: number) {
  const response = await acme.request(query, { twinId, at: at(hours) });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
}

async function twinKpis(id: string, from: number, to: number, headers?: Record<string, string>) {
  return acme.request(TWIN_KPIS, { id, from: at(from), to: at(to) }, headers);
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  // A mill: failures at 2 h (repaired at 3 h), 10 h (repaired at 14 h) and 20 h (open); its
  // temperature goes OK at 1 h, ALERT at 5 h, OK again at 6 h.
  await acme.createTwin({ id: 'acme:m-1', name: 'Mill 1', kind: 'mill', metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }] });
  await acme.createTwin({ id: 'acme:m-2', name: 'Mill 2', kind: 'mill', metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }] });
  // One batch per change: a batch sets the state from its latest readings.
  for (const [hours, value] of [
    [1, 50],
    [5, 150],
    [6, 60],
  ]) {
    await acme.ingest([{ twinId: 'acme:m-1', metric: 'temperature', at: at(hours!), value }]);
  }
  await record(FAILURE, 'acme:m-1', 2);
  await record(REPAIR, 'acme:m-1', 3);
  await record(FAILURE, 'acme:m-1', 10);
  await record(REPAIR, 'acme:m-1', 14);
  await record(FAILURE, 'acme:m-1', 20);
  // A press declaring production: counters from before the range, one reset at 3 h; down 4 h–4.5 h.
  await acme.createTwin({
    id: 'acme:p-1',
    name: 'Press 1',
    kind: 'press',
    metrics: [
      { name: 'count', unit: 'parts' },
      { name: 'good', unit: 'parts' },
    ],
    production: { idealRatePerHour: 100, totalCountMetric: 'count', goodCountMetric: 'good' },
  });
  const counters: [number, number, number][] = [
    [-1, 1000, 900],
    [1, 1100, 990],
    [2, 1250, 1130],
    [3, 50, 45],
    [4, 130, 115],
  ];
  await acme.ingest(
    counters.flatMap(([hours, count, good]) => [
      { twinId: 'acme:p-1', metric: 'count', at: at(hours), value: count },
      { twinId: 'acme:p-1', metric: 'good', at: at(hours), value: good },
    ]),
  );
  await record(FAILURE, 'acme:p-1', 4);
  await record(REPAIR, 'acme:p-1', 4.5);
});
afterAll(() => disposers.dispose());

describe('KPIs of a twin', () => {
  it('counts downtime from failures to repairs (an open failure to the end), MTBF, MTTR and time per status', async () => {
    const kpis = (await twinKpis('acme:m-1', 0, 24)).data.acme.twin.kpis;
    // Down 2–3 h, 10–14 h, 20–24 h: 9 h of 24; three failures; two repairs of 1 h and 4 h.
    expect(kpis).toEqual({
      from: at(0),
      to: at(24),
      twins: 1,
      uptimeSeconds: 15 * HOUR,
      downtimeSeconds: 9 * HOUR,
      availability: 15 / 24,
      failures: 3,
      mtbfSeconds: 5 * HOUR,
      repairs: 2,
      mttrSeconds: 2.5 * HOUR,
      statusSeconds: inStatus(1, 22, 1),
      oee: null,
    });
  });

  it('clips intervals to a range that cuts through them', async () => {
    const kpis = (await twinKpis('acme:m-1', 2.5, 12)).data.acme.twin.kpis;
    // Down 2.5–3 h and 10–12 h; the failure at 10 h is in the range, the repair at 3 h (after 1 h) too.
    expect(kpis).toMatchObject({
      uptimeSeconds: 7 * HOUR,
      downtimeSeconds: 2.5 * HOUR,
      availability: 7 / 9.5,
      failures: 1,
      mtbfSeconds: 7 * HOUR,
      repairs: 1,
      mttrSeconds: 1 * HOUR,
      statusSeconds: inStatus(0, 8.5, 1),
    });
  });

  it('has no MTBF without failures and no MTTR without repairs', async () => {
    const kpis = (await twinKpis('acme:m-1', 4, 9)).data.acme.twin.kpis;
    expect(kpis).toMatchObject({ availability: 1, failures: 0, mtbfSeconds: null, repairs: 0, mttrSeconds: null });
  });

  it('counts an open failure up to now when the range ends in the future', async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    const kpis = (await acme.request(TWIN_KPIS, { id: 'acme:m-1', from, to })).data.acme.twin.kpis;
    expect(Date.parse(kpis.to)).toBeLessThanOrEqual(Date.now());
    expect(kpis.availability).toBe(0);
    expect(kpis.downtimeSeconds).toBeCloseTo((Date.parse(kpis.to) - Date.parse(from)) / 1000, 3);
  });

  it('computes OEE from the counters, a reset included', async () => {
    const kpis = (await twinKpis('acme:p-1', 0, 5)).data.acme.twin.kpis;
    // 380 parts (100 + 150 + 50 after the reset + 80), 345 good, in 4.5 h up at 100 parts/h.
    expect(kpis.availability).toBeCloseTo(0.9, 12);
    expect(kpis.oee).toEqual({
      availability: kpis.availability,
      performance: expect.closeTo(380 / 450, 12),
      quality: expect.closeTo(345 / 380, 12),
      oee: expect.closeTo(0.9 * (345 / 450), 12),
      totalCount: 380,
      goodCount: 345,
      uptimeSeconds: 4.5 * HOUR,
    });
  });
});

describe('the status history', () => {
  it('keeps every change of status: from the reading that caused it, or from now for a new normal range', async () => {
    await acme.createTwin({ id: 'acme:h-1', name: 'H', kind: 'oven', metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }] });
    await acme.ingest([{ twinId: 'acme:h-1', metric: 'temperature', at: at(1), value: 50 }]);
    await acme.ingest([{ twinId: 'acme:h-1', metric: 'temperature', at: at(2), value: 60 }]);
    const before = Date.now();
    await acme.request(`mutation { acme { updateTwin(id: "acme:h-1", patch: { metrics: [{ name: "temperature", unit: "C", max: 40 }] }) { id } } }`);
    const changes = await acme.db.twinStatusChange.findMany({ where: { twinId: 'h-1' }, orderBy: { id: 'asc' } });
    expect(changes.map((change) => change.status)).toEqual(['OK', 'ALERT']);
    expect(changes[0]!.from.toISOString()).toBe(at(1));
    expect(changes[1]!.from.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await acme.request(`mutation { acme { deleteTwin(id: "acme:h-1") } }`);
  });
});

describe('KPIs of a kind and of the organization', () => {
  it('sum the twins of a kind', async () => {
    const kpis = (await acme.request(FLEET_KPIS, { from: at(0), to: at(24), kind: 'mill' })).data.acme.kpis;
    // m-1 as above, m-2 up all the time with no reading.
    expect(kpis).toMatchObject({
      twins: 2,
      uptimeSeconds: 39 * HOUR,
      downtimeSeconds: 9 * HOUR,
      availability: 39 / 48,
      failures: 3,
      mtbfSeconds: 13 * HOUR,
      mttrSeconds: 2.5 * HOUR,
      statusSeconds: inStatus(25, 22, 1),
      oee: null,
    });
  });

  it('sum the whole organization, OEE over the twins declaring production', async () => {
    const kpis = (await acme.request(FLEET_KPIS, { from: at(0), to: at(5) })).data.acme.kpis;
    // m-1 down 2–3 h, p-1 down 4–4.5 h.
    expect(kpis).toMatchObject({ twins: 3, downtimeSeconds: 1.5 * HOUR, failures: 2, repairs: 2, mttrSeconds: 0.75 * HOUR });
    expect(kpis.oee.oee).toBeCloseTo(0.9 * (345 / 450), 12);
  });
});

describe('validation', () => {
  it('refuses an empty, reversed or too long range', async () => {
    expect(codes(await twinKpis('acme:m-1', 5, 5))).toEqual(['INVALID_INPUT']);
    expect(codes(await acme.request(FLEET_KPIS, { from: at(24), to: at(0) }))).toEqual(['INVALID_INPUT']);
    expect(codes(await acme.request(FLEET_KPIS, { from: at(0), to: at(401 * 24) }))).toEqual(['INVALID_INPUT']);
  });

  it('keeps failures and repairs alternating, in time order, not in the future, of known twins', async () => {
    await acme.createTwin({ id: 'acme:m-3', name: 'Mill 3', kind: 'lathe' });
    const failure = (twinId: string, time: string) => acme.request(FAILURE, { twinId, at: time });
    const repair = (twinId: string, time: string) => acme.request(REPAIR, { twinId, at: time });
    expect(codes(await repair('acme:m-3', at(1)))).toEqual(['INVALID_INPUT']);
    expect(codes(await failure('acme:m-3', new Date(Date.now() + 3_600_000).toISOString()))).toEqual(['INVALID_INPUT']);
    expect(codes(await failure('acme:nope', at(1)))).toEqual(['UNKNOWN_TWIN']);
    expect(codes(await failure('globex:m-3', at(1)))).toEqual(['UNKNOWN_TWIN']);
    const recorded = await acme.request(FAILURE, { twinId: 'acme:m-3', at: at(5), note: 'spindle seized' });
    expect(recorded.data.acme.recordFailure).toEqual({
      twinId: 'acme:m-3',
      type: 'FAILURE',
      at: at(5),
      note: 'spindle seized',
      recordedBy: 'member:test-admin',
    });
    expect(codes(await failure('acme:m-3', at(6)))).toEqual(['INVALID_INPUT']);
    expect(codes(await repair('acme:m-3', at(4)))).toEqual(['INVALID_INPUT']);
    expect((await repair('acme:m-3', at(7))).data.acme.recordRepair).toEqual({ twinId: 'acme:m-3', type: 'REPAIR', at: at(7) });
  });

  it('lists failures and repairs newest first, a page at a time', async () => {
    const query = `query($after: String) { acme { twin(id: "acme:m-1") { maintenance(first: 2, after: $after) { edges { node { type at } } pageInfo { hasNextPage endCursor } } } } }`;
    const first = (await acme.request(query)).data.acme.twin.maintenance;
    expect(first.edges.map((edge: { node: unknown }) => edge.node)).toEqual([
      { type: 'FAILURE', at: at(20) },
      { type: 'REPAIR', at: at(14) },
    ]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const next = (await acme.request(query, { after: first.pageInfo.endCursor })).data.acme.twin.maintenance;
    expect(next.edges.map((edge: { node: { at: string } }) => edge.node.at)).toEqual([at(10), at(3)]);
  });

  it('refuses production counters that are not metrics of the twin', async () => {
    const response = await acme.request(`mutation($input: TwinInput!) { acme { createTwin(input: $input) { id } } }`, {
      input: {
        id: 'acme:p-9',
        name: 'P',
        kind: 'press',
        metrics: [{ name: 'count', unit: 'parts' }],
        production: { idealRatePerHour: 10, totalCountMetric: 'count', goodCountMetric: 'good' },
      },
    });
    expect(codes(response)).toEqual(['INVALID_INPUT']);
    const removal = await acme.request(`mutation { acme { removeMetric(twinId: "acme:p-1", metric: "good") { id } } }`);
    expect(codes(removal)).toEqual(['INVALID_INPUT']);
  });

  it('drops OEE with the production declaration', async () => {
    await acme.createTwin({ id: 'acme:p-2', name: 'Press 2', kind: 'stamp', metrics: [{ name: 'count', unit: 'parts' }] });
    const patch = `mutation($production: ProductionInput) { acme { updateTwin(id: "acme:p-2", patch: { production: $production }) { production { idealRatePerHour totalCountMetric goodCountMetric } } } }`;
    const declared = { idealRatePerHour: 60, totalCountMetric: 'count', goodCountMetric: 'count' };
    expect((await acme.request(patch, { production: declared })).data.acme.updateTwin.production).toEqual(declared);
    expect((await twinKpis('acme:p-2', 0, 1)).data.acme.twin.kpis.oee).toMatchObject({
      availability: 1,
      performance: 0,
      quality: null,
      oee: null,
      totalCount: 0,
    });
    expect((await acme.request(patch, { production: null })).data.acme.updateTwin.production).toBeNull();
    expect((await twinKpis('acme:p-2', 0, 1)).data.acme.twin.kpis.oee).toBeNull();
  });
});

describe('access', () => {
  it('needs analytics:read: a grant without it reads the twin but not its KPIs', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['mill'] } });
    const headers = bearer(token);
    const response = await acme.request(
      `query { acme { twin(id: "acme:m-1") { name kpis(from: "${at(0)}", to: "${at(24)}") { availability } } } }`,
      {},
      headers,
    );
    expect(response.data.acme.twin).toEqual({ name: 'Mill 1', kpis: null });
    expect(codes(response)).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(FLEET_KPIS, { from: at(0), to: at(24) }, headers))).toEqual(['FORBIDDEN']);
  });

  it('sums only the twins the grant selects with analytics:read', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'analytics:read'], selector: { kinds: ['mill'] } });
    const kpis = (await acme.request(FLEET_KPIS, { from: at(0), to: at(24) }, bearer(token))).data.acme.kpis;
    expect(kpis).toMatchObject({ twins: 2, downtimeSeconds: 9 * HOUR, oee: null });
    const press = await acme.request(TWIN_KPIS, { id: 'acme:p-1', from: at(0), to: at(5) }, bearer(token));
    expect(press.data.acme.twin).toBeNull();
  });
});
