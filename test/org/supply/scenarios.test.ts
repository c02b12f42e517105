import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes } from '../../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const FIELDS = 'id name definition createdBy createdAt updatedAt';
const SAVE = `mutation($id: ID, $name: String!, $definition: JSON!) { acme { saveScenario(id: $id, name: $name, definition: $definition) { ${FIELDS} } } }`;
const DELETE = `mutation($id: ID!) { acme { deleteScenario(id: $id) } }`;
const LIST = `query { acme { scenarios { ${FIELDS} } } }`;
const ONE = `query($id: ID!) { acme { scenario(id: $id) { ${FIELDS} } } }`;

const strike = { name: 'Steel strike', disruptions: [{ twinId: 'globex:steel-1', hours: 48 }] };

async function save(variables: Record<string, unknown>, headers?: Record<string, string>) {
  return acme.request(SAVE, variables, headers);
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
});
afterAll(() => disposers.dispose());

describe('scenarios', () => {
  it('are created, listed, read, replaced and deleted by members', async () => {
    const created = (await save({ name: 'Strike', definition: strike })).data.acme.saveScenario;
    expect(created.id).toMatch(/^acme:[0-9a-f-]{36}$/);
    // Stored as validated: defaults filled in.
    expect(created).toMatchObject({
      name: 'Strike',
      definition: { ...strike, disruptions: [{ twinId: 'globex:steel-1', hours: 48, capacity: 0, predicted: false }] },
      createdBy: 'member:test-admin',
    });
    const planner = bearer(await acme.memberToken('operator', 'planner'));
    const longer = { ...strike, disruptions: [{ twinId: 'globex:steel-1', hours: 96, capacity: 0.5 }] };
    const replaced = (await save({ id: created.id, name: 'Long strike', definition: longer }, planner)).data.acme.saveScenario;
    expect(replaced).toMatchObject({ id: created.id, name: 'Long strike', createdBy: 'member:test-admin', createdAt: created.createdAt });
    expect(replaced.definition.disruptions[0]).toMatchObject({ hours: 96, capacity: 0.5 });
    expect(Date.parse(replaced.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));

    const viewer = bearer(await acme.memberToken('viewer'));
    expect((await acme.request(LIST, {}, viewer)).data.acme.scenarios).toEqual([replaced]);
    expect((await acme.request(ONE, { id: created.id }, viewer)).data.acme.scenario).toEqual(replaced);
    expect(codes(await acme.request(DELETE, { id: created.id }, viewer))).toEqual(['FORBIDDEN']);

    expect((await acme.request(DELETE, { id: created.id })).data.acme.deleteScenario).toBe(true);
    expect((await acme.request(DELETE, { id: created.id })).data.acme.deleteScenario).toBe(false);
    expect((await acme.request(ONE, { id: created.id })).data.acme.scenario).toBeNull();
    expect((await acme.request(LIST)).data.acme.scenarios).toEqual([]);
  });

  it('are saved under a new id given by the caller, and only under this organization', async () => {
    const id = 'acme:8f0e6a4c-3b1d-4f7e-9a2b-5c6d7e8f9a0b';
    expect((await save({ id, name: 'Given', definition: strike })).data.acme.saveScenario.id).toBe(id);
    const foreign = await save({ id: 'globex:8f0e6a4c-3b1d-4f7e-9a2b-5c6d7e8f9a0b', name: 'Theirs', definition: strike });
    expect(codes(foreign)).toEqual(['INVALID_INPUT']);
    expect(codes(await save({ id: 'acme:not-a-uuid', name: 'Bad', definition: strike }))).toEqual(['INVALID_INPUT']);
    expect((await acme.request(ONE, { id: 'globex:8f0e6a4c-3b1d-4f7e-9a2b-5c6d7e8f9a0b' })).data.acme.scenario).toBeNull();
  });

  it('refuse a bad definition with INVALID_INPUT naming the path, storing nothing', async () => {
    const before = await acme.db.scenario.count();
    const bad = async (definition: unknown, field: string) => {
      const response = await save({ name: 'Bad', definition });
      expect(codes(response)).toEqual(['INVALID_INPUT']);
      expect(response.errors![0]!.extensions!.field).toBe(field);
    };
    await bad({ ...strike, disruptions: [] }, 'definition.disruptions');
    await bad({ ...strike, disruptions: [{ twinId: 'steel-1' }] }, 'definition.disruptions.0.twinId');
    await bad({ ...strike, disruptions: [{ twinId: 'globex:steel-1', capacity: 1 }] }, 'definition.disruptions.0.capacity');
    await bad({ ...strike, disruptions: Array(51).fill(strike.disruptions[0]) }, 'definition.disruptions');
    await bad('a string', 'definition');
    expect(codes(await save({ name: '', definition: strike }))).toEqual(['INVALID_INPUT']);
    expect(await acme.db.scenario.count()).toBe(before);
  });

  it('are refused to partners, whatever their grants', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'twins:write', 'supply:read'], selector: { kinds: ['press'] } });
    const partner = bearer(token);
    expect(codes(await acme.request(LIST, {}, partner))).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(ONE, { id: 'acme:8f0e6a4c-3b1d-4f7e-9a2b-5c6d7e8f9a0b' }, partner))).toEqual(['FORBIDDEN']);
    expect(codes(await save({ name: 'Theirs', definition: strike }, partner))).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(DELETE, { id: 'acme:8f0e6a4c-3b1d-4f7e-9a2b-5c6d7e8f9a0b' }, partner))).toEqual(['FORBIDDEN']);
    expect((await acme.request(ONE, { id: 'acme:8f0e6a4c-3b1d-4f7e-9a2b-5c6d7e8f9a0b' })).data.acme.scenario).not.toBeNull();
  });
});
