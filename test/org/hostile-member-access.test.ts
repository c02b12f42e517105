import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type TestOrg } from '../support/org.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { Disposers } from '../support/services.ts';

/**
 * A partner organization (acme) using the grants globex gave it to learn, or do, more than they
 * allow: at globex's subgraph and through the network (gateway, directory).
 */

const disposers = new Disposers();
let net: TestNetwork;
let globex: TestOrg;

const AUDIT = `query($filter: AuditFilter) { globex { auditEvents(filter: $filter, first: 500) {
  edges { node { partner grantJtis action twinIds allowed reason } } } } }`;

async function audited(filter: Record<string, unknown>): Promise<any[]> {
  const response = await globex.request(AUDIT, { filter });
  expect(response.errors).toBeUndefined();
  return response.data.globex.auditEvents.edges.map((edge: any) => edge.node);
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['globex']);
  globex = net.orgs.globex!;
  for (const id of ['globex:lathe_1', 'globex:latheX1']) await globex.createTwin({ id, name: id, kind: 'lathe' });
  await globex.eventsPublished();
  await net.catalogHas(['globex:lathe_1', 'globex:latheX1']);
});
afterAll(() => disposers.dispose());

describe('selectors', () => {
  it('a glob reaches only ids it matches: `_` in it is no wildcard, at the organization nor in the directory', async () => {
    const { token, jti } = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { idGlobs: ['globex:lathe_*'] } });
    const LIST = `query { globex { twins { edges { node { id } } } } }`;
    const listed = await globex.request(LIST, undefined, bearer(token));
    expect(listed.data.globex.twins.edges.map((edge: any) => edge.node.id)).toEqual(['globex:lathe_1']);
    const TWIN = `query($id: ID!) { globex { twin(id: $id) { id name } } }`;
    expect((await globex.request(TWIN, { id: 'globex:latheX1' }, bearer(token))).data.globex.twin).toBeNull();
    expect((await globex.request(TWIN, { id: 'globex:lathe_1' }, bearer(token))).data.globex.twin).toEqual({ id: 'globex:lathe_1', name: 'globex:lathe_1' });

    const network = await net.query(`{ twins(first: 10) { edges { node { id } } } }`, undefined, bearer(token));
    expect(network.errors).toBeUndefined();
    expect(network.data.twins.edges.map((edge: any) => edge.node.id)).toEqual(['globex:lathe_1']);
    expect((await net.query(`{ twin(id: "globex:latheX1") { id } }`, undefined, bearer(token))).data.twin).toBeNull();

    // Newest first: the read of lathe_1, the refused read of latheX1, the list.
    const read = { partner: 'acme', grantJtis: [jti], action: 'read', allowed: true, reason: null };
    expect(await audited({ grantJti: jti })).toEqual([
      { ...read, twinIds: ['globex:lathe_1'] },
      { ...read, twinIds: ['globex:latheX1'], allowed: false, reason: 'UNKNOWN_TWIN' },
      { ...read, twinIds: ['globex:lathe_1'] },
    ]);
  });
});
