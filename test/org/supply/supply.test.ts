import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes } from '../../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const LINK = 'supplierId part share leadTimeHours stock safetyStock consumptionPerDay daysOfSupply bufferHours';
const SUPPLY = `query($id: ID!) { acme { twin(id: $id) { name supply { ${LINK} } capacity { perDay unit } } } }`;
const SET = `mutation($twinId: ID!, $supply: SupplyLinkInput!) { acme { setSupply(twinId: $twinId, supply: $supply) { ${LINK} } } }`;
const REMOVE = `mutation($twinId: ID!, $supplierId: ID!) { acme { removeSupply(twinId: $twinId, supplierId: $supplierId) } }`;
const UPDATE = `mutation($id: ID!, $patch: TwinPatch!) { acme { updateTwin(id: $id, patch: $patch) { id } } }`;
const AUDIT = `query($filter: AuditFilter) { acme { auditEvents(filter: $filter) { edges { node { partner action twinIds allowed reason } } } } }`;

/** A link as the API shows it, from what was given. */
const link = (given: Record<string, unknown>) => ({
  part: null,
  share: 1,
  leadTimeHours: 0,
  stock: null,
  safetyStock: null,
  consumptionPerDay: null,
  daysOfSupply: null,
  bufferHours: null,
  ...given,
});

async function supplyOf(id: string, headers?: Record<string, string>) {
  return acme.request(SUPPLY, { id }, headers);
}

async function mutate(query: string, variables: Record<string, unknown>) {
  const response = await acme.request(query, variables);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data.acme;
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press' });
  await acme.createTwin({ id: 'acme:press-2', name: 'Press 2', kind: 'press' });
  await acme.createTwin({
    id: 'acme:assembly-1',
    name: 'Assembly 1',
    kind: 'assembly',
    suppliedByIds: ['acme:press-1', 'globex:steel-1'],
    capacity: { perDay: 400, unit: 'cars' },
    supply: [
      { supplierId: 'acme:press-1', part: 'door', share: 0.6, leadTimeHours: 4, stock: 120, safetyStock: 40, consumptionPerDay: 480 },
      { supplierId: 'globex:steel-1', part: 'coil', daysOfSupply: 3, safetyStock: 1 },
    ],
  });
});
afterAll(() => disposers.dispose());

describe('supply data', () => {
  it('is created with the twin: links in supplier order with defaults, buffer hours, capacity', async () => {
    const twin = (await supplyOf('acme:assembly-1')).data.acme.twin;
    expect(twin.capacity).toEqual({ perDay: 400, unit: 'cars' });
    expect(twin.supply).toEqual([
      // 120 doors at 480 a day last 6 hours.
      link({ supplierId: 'acme:press-1', part: 'door', share: 0.6, leadTimeHours: 4, stock: 120, safetyStock: 40, consumptionPerDay: 480, bufferHours: 6 }),
      link({ supplierId: 'globex:steel-1', part: 'coil', daysOfSupply: 3, safetyStock: 1, bufferHours: 72 }),
    ]);
  });

  it('is set and removed link by link; a removed link leaves the supplier in place', async () => {
    await mutate(`mutation { acme { linkSupplier(twinId: "acme:press-2", supplierId: "acme:press-1") { id } } }`, {});
    const set = await mutate(SET, { twinId: 'acme:press-2', supply: { supplierId: 'acme:press-1', leadTimeHours: 2 } });
    expect(set.setSupply).toEqual(link({ supplierId: 'acme:press-1', leadTimeHours: 2 }));
    const replaced = await mutate(SET, { twinId: 'acme:press-2', supply: { supplierId: 'acme:press-1', share: 0.5, daysOfSupply: 0.5 } });
    expect(replaced.setSupply).toEqual(link({ supplierId: 'acme:press-1', share: 0.5, daysOfSupply: 0.5, bufferHours: 12 }));
    expect((await mutate(REMOVE, { twinId: 'acme:press-2', supplierId: 'acme:press-1' })).removeSupply).toBe(true);
    expect((await mutate(REMOVE, { twinId: 'acme:press-2', supplierId: 'acme:press-1' })).removeSupply).toBe(false);
    const twin = (await acme.request(`query { acme { twin(id: "acme:press-2") { suppliedByIds supply { supplierId } } } }`)).data.acme.twin;
    expect(twin).toEqual({ suppliedByIds: ['acme:press-1'], supply: [] });
  });

  it('is replaced by a patch listing links; capacity null clears it', async () => {
    await acme.createTwin({ id: 'acme:paint-1', name: 'Paint 1', kind: 'paint', suppliedByIds: ['acme:press-1', 'acme:press-2'], capacity: { perDay: 10 } });
    await mutate(UPDATE, { id: 'acme:paint-1', patch: { supply: [{ supplierId: 'acme:press-1' }, { supplierId: 'acme:press-2', share: 0.25 }] } });
    await mutate(UPDATE, { id: 'acme:paint-1', patch: { supply: [{ supplierId: 'acme:press-2', share: 0.75 }] } });
    expect((await supplyOf('acme:paint-1')).data.acme.twin).toMatchObject({
      supply: [link({ supplierId: 'acme:press-2', share: 0.75 })],
      capacity: { perDay: 10, unit: null },
    });
    // A patch without supply keeps the links.
    await mutate(UPDATE, { id: 'acme:paint-1', patch: { capacity: null, name: 'Paint line 1' } });
    expect((await supplyOf('acme:paint-1')).data.acme.twin).toMatchObject({ name: 'Paint line 1', supply: [{ supplierId: 'acme:press-2' }], capacity: null });
  });

  it('goes when the supplier leaves the twin, and with the twin', async () => {
    await acme.createTwin({ id: 'acme:weld-1', name: 'Weld 1', kind: 'weld', suppliedByIds: ['acme:press-1', 'acme:press-2'] });
    await mutate(UPDATE, { id: 'acme:weld-1', patch: { supply: [{ supplierId: 'acme:press-1' }, { supplierId: 'acme:press-2' }] } });
    await mutate(`mutation { acme { unlinkSupplier(twinId: "acme:weld-1", supplierId: "acme:press-1") { id } } }`, {});
    expect((await supplyOf('acme:weld-1')).data.acme.twin.supply).toEqual([link({ supplierId: 'acme:press-2' })]);
    await mutate(`mutation { acme { deleteTwin(id: "acme:weld-1") } }`, {});
    expect(await acme.db.supplyLink.count({ where: { twinId: 'weld-1' } })).toBe(0);
  });

  it('is refused when malformed: INVALID_INPUT naming the field, nothing stored', async () => {
    const refused = async (supply: Record<string, unknown>, field: string) => {
      const response = await acme.request(SET, { twinId: 'acme:assembly-1', supply });
      expect(codes(response)).toEqual(['INVALID_INPUT']);
      expect(response.errors![0]!.extensions!.field).toBe(field);
    };
    await refused({ supplierId: 'acme:press-1', share: 1.5 }, 'supply.share');
    await refused({ supplierId: 'acme:press-1', leadTimeHours: -1 }, 'supply.leadTimeHours');
    await refused({ supplierId: 'acme:press-1', stock: 10 }, 'supply.consumptionPerDay');
    await refused({ supplierId: 'acme:press-1', stock: 10, consumptionPerDay: 5, daysOfSupply: 2 }, 'supply.daysOfSupply');
    await refused({ supplierId: 'acme:press-2' }, 'supply.supplierId');
    const created = await acme.request(`mutation($input: TwinInput!) { acme { createTwin(input: $input) { id } } }`, {
      input: { id: 'acme:x-1', name: 'X', kind: 'x', supply: [{ supplierId: 'acme:press-1' }] },
    });
    expect(codes(created)).toEqual(['INVALID_INPUT']);
    expect(created.errors![0]!.extensions!.field).toBe('input.supply.0.supplierId');
    const capacity = await acme.request(UPDATE, { id: 'acme:assembly-1', patch: { capacity: { perDay: 0 } } });
    expect(codes(capacity)).toEqual(['INVALID_INPUT']);
    expect(await acme.db.twin.count({ where: { id: 'x-1' } })).toBe(0);
    expect((await supplyOf('acme:assembly-1')).data.acme.twin.capacity).toEqual({ perDay: 400, unit: 'cars' });
  });
});

describe('supply:read', () => {
  it('lets a viewer read supply data', async () => {
    const twin = (await supplyOf('acme:assembly-1', bearer(await acme.memberToken('viewer')))).data.acme.twin;
    expect(twin.supply).toHaveLength(2);
    expect(twin.capacity).toEqual({ perDay: 400, unit: 'cars' });
  });

  it('without it, a partner gets FORBIDDEN for supply and capacity, audited', async () => {
    const { token } = await acme.grantToken({ partner: 'initech', scopes: ['twins:read'], selector: { ids: ['acme:assembly-1'] } });
    const response = await supplyOf('acme:assembly-1', bearer(token));
    expect(response.data.acme.twin).toEqual({ name: 'Assembly 1', supply: null, capacity: null });
    expect(codes(response)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
    const events = (await acme.request(AUDIT, { filter: { partner: 'initech' } })).data.acme.auditEvents.edges.map((e: any) => e.node);
    expect(events).toEqual(
      expect.arrayContaining([
        { partner: 'initech', action: 'read', twinIds: ['acme:assembly-1'], allowed: true, reason: null },
        { partner: 'initech', action: 'read', twinIds: ['acme:assembly-1'], allowed: false, reason: 'FORBIDDEN' },
      ]),
    );
  });

  it('granted on other twins, a partner sees nothing of these', async () => {
    const { token } = await acme.grantToken({ partner: 'hooli', scopes: ['twins:read', 'supply:read'], selector: { kinds: ['press'] } });
    const response = await supplyOf('acme:assembly-1', bearer(token));
    expect(response.data.acme.twin).toBeNull();
    const mixed = await acme.grantToken({ partner: 'hooli', scopes: ['supply:read'], selector: { kinds: ['press'] } });
    const reader = await acme.grantToken({ partner: 'hooli', scopes: ['twins:read'], selector: { kinds: ['assembly'] } });
    const both = await supplyOf('acme:assembly-1', bearer(mixed.token, [reader.token]));
    expect(both.data.acme.twin).toEqual({ name: 'Assembly 1', supply: null, capacity: null });
    expect(codes(both)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
  });

  it('is not needed to write links, and writing needs twins:write on the twin', async () => {
    const { token } = await acme.grantToken({ partner: 'initech', scopes: ['supply:read', 'twins:read'], selector: { ids: ['acme:assembly-1'] } });
    expect(codes(await acme.request(SET, { twinId: 'acme:assembly-1', supply: { supplierId: 'acme:press-1' } }, bearer(token)))).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(REMOVE, { twinId: 'acme:assembly-1', supplierId: 'acme:press-1' }, bearer(token)))).toEqual(['FORBIDDEN']);
    expect((await supplyOf('acme:assembly-1')).data.acme.twin.supply).toHaveLength(2);
  });
});
