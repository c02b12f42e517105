import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer } from '../support/org.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { Disposers } from '../support/services.ts';

const disposers = new Disposers();
let net: TestNetwork;
/** An acme engineer: acme viewer, plus grants from both suppliers. */
let engineer: Record<string, string>;
let acmeOnly: Record<string, string>;
let initechGrant: string;

async function createTwins(org: string, twins: Record<string, unknown>[]) {
  for (const input of twins) await net.orgs[org]!.createTwin(input);
  await net.orgs[org]!.eventsPublished();
}

const ALL = ['acme:line-1', 'acme:press-1', 'acme:press-2', 'globex:mill-1', 'globex:mill-2', 'initech:furnace-1'];

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex', 'initech']);
  await createTwins('initech', [{ id: 'initech:furnace-1', name: 'Furnace 1', kind: 'furnace', metrics: [{ name: 'temperature', unit: 'C' }] }]);
  await createTwins('globex', [
    { id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', tags: ['steel'], suppliedByIds: ['initech:furnace-1'] },
    { id: 'globex:mill-2', name: 'Mill 2', kind: 'mill', tags: ['secret'] },
  ]);
  await createTwins('acme', [
    { id: 'acme:press-1', name: 'Press 1', kind: 'press', suppliedByIds: ['globex:mill-1', 'initech:furnace-1', 'umbrella:nope-1'] },
    { id: 'acme:press-2', name: 'Press 2', kind: 'press', tags: ['spare'] },
    { id: 'acme:line-1', name: 'Line 1', kind: 'line', suppliedByIds: ['acme:press-1', 'globex:mill-1'] },
    { id: 'acme:hidden-1', name: 'Not listed', kind: 'press', listed: false },
  ]);
  await net.catalogHas(ALL);
  const viewer = await net.orgs.acme!.memberToken('viewer', 'engineer');
  const fromGlobex = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read', 'telemetry:read'], selector: { ids: ['globex:mill-1'] } });
  const fromInitech = await net.orgs.initech!.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { kinds: ['furnace'] } });
  initechGrant = fromInitech.jti;
  engineer = bearer(viewer, [fromGlobex.token, fromInitech.token]);
  acmeOnly = bearer(viewer);
});
afterAll(() => disposers.dispose());

const LIST = `query($filter: TwinFilter, $first: Int!, $after: String) {
  twins(filter: $filter, first: $first, after: $after) { edges { node { id name kind org { slug } } } pageInfo { hasNextPage endCursor } } }`;

async function listAll(headers: Record<string, string>, filter?: Record<string, unknown>): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  do {
    const page: any = await net.query(LIST, { filter, first: 2, after }, headers);
    expect(page.errors).toBeUndefined();
    ids.push(...page.data.twins.edges.map((edge: any) => edge.node.id));
    after = page.data.twins.pageInfo.hasNextPage ? page.data.twins.pageInfo.endCursor : null;
  } while (after);
  return ids;
}

describe('the supplier-network graph', () => {
  it('lists the twins a caller may see across organizations, a page at a time, with filters', async () => {
    expect(await listAll(engineer)).toEqual(['acme:line-1', 'acme:press-1', 'acme:press-2', 'globex:mill-1', 'initech:furnace-1']);
    expect(await listAll(engineer, { kind: 'press' })).toEqual(['acme:press-1', 'acme:press-2']);
    expect(await listAll(engineer, { org: 'globex' })).toEqual(['globex:mill-1']);
    expect(await listAll(engineer, { text: 'furnace' })).toEqual(['initech:furnace-1']);
    expect(await listAll(engineer, { tags: ['spare'] })).toEqual(['acme:press-2']);
    // Text is a substring: LIKE's wildcards in it match only themselves.
    expect(await listAll(engineer, { text: 'mill_1' })).toEqual([]);
    expect(await listAll(engineer, { text: '%' })).toEqual([]);
    const names = await net.query(`{ twins(first: 10) { edges { node { id name ... on GlobexTwin { listed } } } } }`, undefined, engineer);
    expect(names.errors).toBeUndefined();
    expect(names.data.twins.edges.map((e: any) => e.node.name)).toEqual(['Line 1', 'Press 1', 'Press 2', 'Mill 1', 'Furnace 1']);
  });

  it('routes a single-twin lookup to its organization only', async () => {
    const audit = async (org: 'globex' | 'initech') =>
      (await net.orgs[org]!.request(`query { ${org} { auditEvents(filter: { partner: "acme" }) { edges { node { twinIds } } } } }`)).data[org].auditEvents.edges
        .length;
    const [globexBefore, initechBefore] = [await audit('globex'), await audit('initech')];
    const twin = await net.query(`{ twin(id: "globex:mill-1") { id name kind tags state { status } } }`, undefined, engineer);
    expect(twin.data.twin).toEqual({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', tags: ['steel'], state: { status: 'UNKNOWN' } });
    expect(await audit('globex')).toBe(globexBefore + 1);
    expect(await audit('initech')).toBe(initechBefore);
  });

  it('follows supply relationships across organizations, two hops, and back', async () => {
    const down = await net.query(`{ twin(id: "acme:line-1") { suppliedBy { id name suppliedBy { id name } } } }`, undefined, engineer);
    expect(down.errors).toBeUndefined();
    expect(down.data.twin.suppliedBy).toEqual([
      {
        id: 'acme:press-1',
        name: 'Press 1',
        suppliedBy: [
          { id: 'globex:mill-1', name: 'Mill 1' },
          { id: 'initech:furnace-1', name: 'Furnace 1' },
        ],
      },
      { id: 'globex:mill-1', name: 'Mill 1', suppliedBy: [{ id: 'initech:furnace-1', name: 'Furnace 1' }] },
    ]);
    const up = await net.query(`{ twin(id: "initech:furnace-1") { supplies { id name } } }`, undefined, engineer);
    expect(up.data.twin.supplies).toEqual([
      { id: 'acme:press-1', name: 'Press 1' },
      { id: 'globex:mill-1', name: 'Mill 1' },
    ]);
  });

  it('shows each caller only its own twins and what its grants select', async () => {
    expect(await listAll(acmeOnly)).toEqual(['acme:line-1', 'acme:press-1', 'acme:press-2']);
    const press = await net.query(`{ twin(id: "acme:press-1") { suppliedBy { id } } }`, undefined, acmeOnly);
    expect(press.data.twin.suppliedBy).toEqual([]);
    expect((await net.query(`{ twin(id: "globex:mill-2") { id } }`, undefined, engineer)).data.twin).toBeNull();
    expect((await net.query(`{ twin(id: "acme:hidden-1") { id } }`, undefined, engineer)).data.twin).toBeNull();
  });

  it('stops showing what a revoked grant selected', async () => {
    const revoked = await net.orgs.initech!.request(`mutation($jti: ID!) { initech { revokeGrant(jti: $jti) { active } } }`, { jti: initechGrant });
    expect(revoked.data.initech.revokeGrant.active).toBe(false);
    await net.orgs.initech!.eventsPublished();
    await vi.waitFor(async () => expect(await net.directoryDb.revokedToken.count({ where: { jti: initechGrant } })).toBe(1), { timeout: 5000, interval: 20 });
    expect(await listAll(engineer, { org: 'initech' })).toEqual([]);
  });

  it('refuses forged tokens at the gateway', async () => {
    const garbage = await net.query(`{ twins(first: 1) { edges { cursor } } }`, undefined, { authorization: 'Bearer not-a-token' });
    expect(garbage.status).toBe(401);
    expect(garbage.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    const { privateKey } = await generateKeyPair('Ed25519');
    const forged = await new SignJWT({ scope: 'twins:read' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'forged', typ: 'twinx-member+jwt' })
      .setIssuer('twinx:org:acme')
      .setAudience('twinx:org:acme')
      .setSubject('mallory')
      .setJti('forged-1')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const refused = await net.query(`{ twins(first: 1) { edges { cursor } } }`, undefined, bearer(forged));
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'INVALID' });
  });

  it('rejects queries deeper than the limit', async () => {
    const deep = `{ twin(id: "acme:line-1") { ${'suppliedBy { '.repeat(12)} id ${'} '.repeat(12)} } }`;
    const response = await net.query(deep, undefined, engineer);
    expect(response.status).toBe(400);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', kind: 'depth' });
  });

  it('rejects queries costlier than the limit', async () => {
    const costly = await net.query(`{ twins(first: 500) { edges { node { id suppliedBy { id supplies { id } } } } } }`, undefined, engineer);
    expect(costly.status).toBe(400);
    expect(costly.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', kind: 'cost' });
  });

  it('serves health and readiness on the gateway and the directory', async () => {
    for (const url of [net.gateway.url, net.directory.url]) {
      expect((await fetch(url.replace('/graphql', '/healthz'))).status).toBe(200);
      expect((await fetch(url.replace('/graphql', '/readyz'))).status).toBe(200);
    }
    const registry = (await (await fetch(net.directory.url.replace('/graphql', '/registry'))).json()) as { members: { slug: string; status: string }[] };
    expect(registry.members.map((m) => `${m.slug}:${m.status}`)).toEqual(['acme:ACTIVE', 'globex:ACTIVE', 'initech:ACTIVE']);
  });

  it('takes in a fourth organization while running', async () => {
    const umbrella = await net.startOrg('umbrella');
    await umbrella.createTwin({ id: 'umbrella:lab-1', name: 'Lab 1', kind: 'lab' });
    await umbrella.eventsPublished();
    await net.join(umbrella);
    const headers = bearer(await umbrella.memberToken('viewer'));
    await vi.waitFor(
      async () => {
        const response = await net.query(`{ twins(first: 5) { edges { node { id ... on UmbrellaTwin { name } } } } }`, undefined, headers);
        expect(response.errors).toBeUndefined();
        expect(response.data.twins.edges).toEqual([{ node: { id: 'umbrella:lab-1', name: 'Lab 1' } }]);
      },
      { timeout: 10_000, interval: 50 },
    );
  });

  it('refuses a member that breaks the contract between organizations, and composes the others', async () => {
    // A member whose twin type lacks the fields of the contract: not the organization template.
    const broken = new ApolloServer({
      schema: buildSubgraphSchema({
        typeDefs: parse(`extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
          type RogueTwin @key(fields: "id") { id: ID! suppliedByIds: [ID!]! }`),
        resolvers: {},
      }),
    });
    const { url } = await startStandaloneServer(broken, { listen: { port: 0, host: '127.0.0.1' } });
    disposers.add(() => broken.stop());
    const added = await net.admin(
      `
        mutation ($input: OrganizationInput!) {
          network {
            addOrganization(input: $input) {
              status
            }
          }
        }
      `,
      {
        input: { slug: 'rogue', name: 'Rogue', subgraphUrl: `${url}graphql`, jwksUrl: `${url}jwks` },
      },
    );
    expect(added.data.network.addOrganization.status).toBe('PENDING');
    // The gateway tries (NATS told it), refuses rogue, says why, and composes everyone else.
    await vi.waitFor(
      async () => {
        const ready = (await (await fetch(net.gateway.url.replace('/graphql', '/readyz'))).json()) as {
          members: string[];
          refused: { slug: string; reason: string }[];
          lastCompositionFailure: unknown;
        };
        expect(ready.refused).toEqual([{ slug: 'rogue', reason: expect.stringMatching(/^matches no twinx template version \(v1: /) }]);
        expect(ready.members).toEqual(['acme:ACTIVE', 'globex:ACTIVE', 'initech:ACTIVE', 'umbrella:ACTIVE']);
        expect(ready.lastCompositionFailure).toBeNull();
      },
      { timeout: 10_000, interval: 50 },
    );
    const still = await net.query(`{ twin(id: "acme:press-1") { name } }`, undefined, engineer);
    expect(still.data.twin.name).toBe('Press 1');
    await net.admin(
      `
        mutation {
          network {
            suspendOrganization(slug: "rogue") {
              status
            }
          }
        }
      `,
    );
  });

  it('answers with partial data and an error naming the organization when one is down', async () => {
    await net.orgs.globex!.stop();
    const response = await net.query(`{ twins(first: 10) { edges { node { id name } } } }`, undefined, engineer);
    expect(response.data.twins.edges.map((e: any) => e.node)).toEqual([
      { id: 'acme:line-1', name: 'Line 1' },
      { id: 'acme:press-1', name: 'Press 1' },
      { id: 'acme:press-2', name: 'Press 2' },
      { id: 'globex:mill-1', name: null },
    ]);
    expect(JSON.stringify(response.errors)).toContain('globex');
  });
});
