import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes } from '../support/graphql.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
});
afterAll(() => disposers.dispose());

const TWIN_FIELDS = `id name kind description tags attributes location { site line latitude longitude } suppliedByIds
  metrics { name unit min max } state { status updatedAt metrics { metric value } }`;

const CREATE = `mutation($input: TwinInput!) { acme { createTwin(input: $input) { ${TWIN_FIELDS} } } }`;

function create(input: Record<string, unknown>) {
  return acme.request(CREATE, { input });
}

describe('twins', () => {
  it('creates a twin with metrics, relationships, attributes and location, and reads it back', async () => {
    const created = await create({
      id: 'acme:press-1',
      name: 'Press 1',
      kind: 'press',
      description: 'Hydraulic press, hall B',
      tags: ['hall-b', 'critical'],
      attributes: { tonnage: 400, vendor: { name: 'Schuler' } },
      location: { site: 'Stuttgart', line: 'L2', latitude: 48.78, longitude: 9.18 },
      suppliedByIds: ['globex:mill-3', 'initech:furnace-1'],
      metrics: [
        { name: 'temperature', unit: 'C', min: 10, max: 80 },
        { name: 'vibration', unit: 'mm/s' },
      ],
    });
    expect(created.errors).toBeUndefined();
    const read = await acme.request(`query { acme { twin(id: "acme:press-1") { ${TWIN_FIELDS} createdAt } } }`);
    expect(read.data.acme.twin).toMatchObject({
      id: 'acme:press-1',
      name: 'Press 1',
      kind: 'press',
      tags: ['hall-b', 'critical'],
      attributes: { tonnage: 400, vendor: { name: 'Schuler' } },
      location: { site: 'Stuttgart', line: 'L2', latitude: 48.78, longitude: 9.18 },
      suppliedByIds: ['globex:mill-3', 'initech:furnace-1'],
      metrics: [
        { name: 'temperature', unit: 'C', min: 10, max: 80 },
        { name: 'vibration', unit: 'mm/s', min: null, max: null },
      ],
      state: { status: 'UNKNOWN', updatedAt: null, metrics: [] },
    });
    expect(Date.parse(read.data.acme.twin.createdAt)).not.toBeNaN();
  });

  it('updates descriptive fields and upserts metrics, leaving absent fields as they were', async () => {
    await create({ id: 'acme:lathe-1', name: 'Lathe', kind: 'lathe', tags: ['a'], metrics: [{ name: 'rpm', unit: 'rpm' }] });
    const updated = await acme.request(
      `mutation { acme { updateTwin(id: "acme:lathe-1", patch: { name: "Lathe 1", metrics: [{ name: "rpm", unit: "rpm", max: 3000 }, { name: "power", unit: "kW" }] }) { name kind tags metrics { name max } } } }`,
    );
    expect(updated.errors).toBeUndefined();
    expect(updated.data.acme.updateTwin).toEqual({
      name: 'Lathe 1',
      kind: 'lathe',
      tags: ['a'],
      metrics: [
        { name: 'power', max: null },
        { name: 'rpm', max: 3000 },
      ],
    });
  });

  it('rejects a duplicate id, an id of another organization and malformed input with stable codes', async () => {
    await create({ id: 'acme:dup-1', name: 'Dup', kind: 'press' });
    expect(codes(await create({ id: 'acme:dup-1', name: 'Dup', kind: 'press' }))).toEqual(['ALREADY_EXISTS']);
    expect(codes(await create({ id: 'globex:x-1', name: 'X', kind: 'press' }))).toEqual(['UNKNOWN_TWIN']);
    expect(codes(await create({ id: 'no-colon', name: 'X', kind: 'press' }))).toEqual(['INVALID_INPUT']);
    const badKind = await create({ id: 'acme:x-2', name: 'X', kind: 'Not A Kind' });
    expect(badKind.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.kind' });
    const badRange = await create({ id: 'acme:x-3', name: 'X', kind: 'press', metrics: [{ name: 't', unit: 'C', min: 5, max: 1 }] });
    expect(badRange.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.metrics.0' });
    const selfSupply = await create({ id: 'acme:x-4', name: 'X', kind: 'press', suppliedByIds: ['acme:x-4'] });
    expect(codes(selfSupply)).toEqual(['INVALID_INPUT']);
    const missingLocalSupplier = await create({ id: 'acme:x-5', name: 'X', kind: 'press', suppliedByIds: ['acme:nope'] });
    expect(codes(missingLocalSupplier)).toEqual(['UNKNOWN_TWIN']);
    const none = await acme.request(`query { acme { twin(id: "acme:x-5") { id } } }`);
    expect(none.data.acme.twin).toBeNull();
  });

  it('links and unlinks suppliers, here and at other organizations', async () => {
    await create({ id: 'acme:line-1', name: 'Line 1', kind: 'line' });
    await create({ id: 'acme:robot-1', name: 'Robot', kind: 'robot' });
    const linked = await acme.request(`mutation {
      a: acme { linkSupplier(twinId: "acme:line-1", supplierId: "acme:robot-1") { suppliedByIds } }
      b: acme { linkSupplier(twinId: "acme:line-1", supplierId: "globex:mill-9") { suppliedByIds } }
      c: acme { linkSupplier(twinId: "acme:line-1", supplierId: "globex:mill-9") { suppliedByIds } }
    }`);
    expect(linked.errors).toBeUndefined();
    expect(linked.data.c.linkSupplier.suppliedByIds).toEqual(['acme:robot-1', 'globex:mill-9']);
    const unlinked = await acme.request(`mutation { acme { unlinkSupplier(twinId: "acme:line-1", supplierId: "globex:mill-9") { suppliedByIds } } }`);
    expect(unlinked.data.acme.unlinkSupplier.suppliedByIds).toEqual(['acme:robot-1']);
  });

  it('deletes a twin with its metrics and history, and removes links that pointed at it', async () => {
    await create({ id: 'acme:cell-1', name: 'Cell', kind: 'cell', metrics: [{ name: 't', unit: 'C' }] });
    await create({ id: 'acme:cell-2', name: 'Cell 2', kind: 'cell', suppliedByIds: ['acme:cell-1'] });
    await acme.request(
      `mutation { acme { ingestTelemetry(readings: [{ twinId: "acme:cell-1", metric: "t", at: "2026-01-01T00:00:00Z", value: 1 }]) { accepted } } }`,
    );
    const deleted = await acme.request(`mutation { acme { deleteTwin(id: "acme:cell-1") } }`);
    expect(deleted.data.acme.deleteTwin).toBe('acme:cell-1');
    const after = await acme.request(`query { acme { gone: twin(id: "acme:cell-1") { id } other: twin(id: "acme:cell-2") { suppliedByIds } } }`);
    expect(after.data.acme).toEqual({ gone: null, other: { suppliedByIds: [] } });
    expect(await acme.db.reading.count({ where: { twinId: 'cell-1' } })).toBe(0);
    expect(codes(await acme.request(`mutation { acme { deleteTwin(id: "acme:cell-1") } }`))).toEqual(['UNKNOWN_TWIN']);
  });

  it('lists twins a page at a time with filters', async () => {
    for (let i = 0; i < 7; i++) {
      await create({ id: `acme:pump-${i}`, name: `Pump ${i}`, kind: 'pump', tags: i % 2 === 0 ? ['even', 'pumps'] : ['pumps'] });
    }
    const ids: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: any = await acme.request(
        `query($after: String) { acme { twins(filter: { kind: "pump" }, first: 3, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }`,
        { after },
      );
      const { edges, pageInfo } = page.data.acme.twins;
      ids.push(...edges.map((edge: any) => edge.node.id));
      after = pageInfo.hasNextPage ? pageInfo.endCursor : null;
      pages++;
    } while (after);
    expect(pages).toBe(3);
    expect(ids).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `acme:pump-${i}`));

    const tagged = await acme.request(`query { acme { twins(filter: { tags: ["even", "pumps"] }) { edges { node { id } } } } }`);
    expect(tagged.data.acme.twins.edges.map((e: any) => e.node.id)).toEqual(['acme:pump-0', 'acme:pump-2', 'acme:pump-4', 'acme:pump-6']);
    const text = await acme.request(`query { acme { twins(filter: { text: "PUMP 5" }) { edges { node { id } } } } }`);
    expect(text.data.acme.twins.edges.map((e: any) => e.node.id)).toEqual(['acme:pump-5']);

    expect(codes(await acme.request(`query { acme { twins(first: 0) { edges { cursor } } } }`))).toEqual(['INVALID_INPUT']);
    expect(codes(await acme.request(`query { acme { twins(after: "bm9wZQ") { edges { cursor } } } }`))).toEqual(['INVALID_INPUT']);
  });

  it('filters by text as a case-insensitive substring, with no wildcards', async () => {
    await create({ id: 'acme:tank_1', name: 'Tank 100%', kind: 'tank' });
    await create({ id: 'acme:tankX1', name: 'Tank X', kind: 'tank' });
    const texts = async (text: string) =>
      (await acme.request(`query($text: String) { acme { twins(filter: { text: $text }) { edges { node { id } } } } }`, { text })).data.acme.twins.edges.map(
        (e: any) => e.node.id,
      );
    expect((await texts('TANK')).sort()).toEqual(['acme:tankX1', 'acme:tank_1']);
    expect(await texts('k_1')).toEqual(['acme:tank_1']);
    expect(await texts('_')).toEqual(['acme:tank_1']);
    expect(await texts('0%')).toEqual(['acme:tank_1']);
    expect(await texts('%')).toEqual(['acme:tank_1']);
    expect(await texts('\\')).toEqual([]);
  });

  it('resolves entity references for the gateway, only for its own twins', async () => {
    await create({ id: 'acme:ref-1', name: 'Ref', kind: 'press' });
    const entities = await acme.request(`query($r: [_Any!]!) { _entities(representations: $r) { ... on AcmeTwin { id name } } }`, {
      r: [
        { __typename: 'AcmeTwin', id: 'acme:ref-1' },
        { __typename: 'AcmeTwin', id: 'acme:missing' },
      ],
    });
    expect(entities.data._entities).toEqual([{ id: 'acme:ref-1', name: 'Ref' }, null]);
  });
});

describe('bad requests', () => {
  it('answers malformed GraphQL, malformed JSON, unknown routes and oversized bodies with stable codes', async () => {
    expect(codes(await acme.request('query { acme { '))).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(codes(await acme.request('query { acme { nope } }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    const badJson = await fetch(acme.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
    const huge = await fetch(acme.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', padding: 'x'.repeat(9 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as any).errors[0].extensions.code).toBe('REQUEST_TOO_LARGE');
    const unknown = await fetch(acme.url.replace('/graphql', '/nope'));
    expect(unknown.status).toBe(404);
  });

  it('serves health and readiness', async () => {
    expect((await fetch(acme.url.replace('/graphql', '/healthz'))).status).toBe(200);
    expect((await fetch(acme.url.replace('/graphql', '/readyz'))).status).toBe(200);
  });
});
