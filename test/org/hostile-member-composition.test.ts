import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql as execute, graphqlSync, parse, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { isServiceSdlQuery } from '../../lib/graphql/service-query.ts';
import { listen, sendJson } from '../../lib/http.ts';
import { freePort } from '../../lib/net.ts';
import type { Msg } from '@nats-io/transport-node';
import { natsNames } from '../../lib/nats.ts';
import { signToken, type TokenClaims } from '../../lib/tokens/tokens.ts';
import { COMPOSED_HEADER } from '../../subgraphs/directory/server.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { orgSdl } from '../../subgraphs/org/schema.ts';
import { codes, graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';

/**
 * A member that turned hostile: mallory controls its own subgraph and serves whatever SDL and
 * answers it likes. Each attack must be refused, with the reason on the gateway's `/readyz`,
 * and must change nothing: acme's twins read as acme says, nothing of acme's reaches mallory,
 * the other members answer.
 */

const disposers = new Disposers();
let net: TestNetwork;
/** An acme engineer: acme viewer, with a grant of globex. */
let engineer: Record<string, string>;
let mallory: HostileMember;

type Resolvers = Parameters<typeof buildSubgraphSchema>[0] extends infer T ? (T extends { resolvers?: infer R } ? R : never) : never;

/** A member's subgraph under the test's control: a real HTTP server, with its own signing key. */
interface HostileMember {
  slug: string;
  url: string;
  /** Every operation sent to it but for its SDL, as JSON. */
  received: string[];
  /** Serves this SDL, as @apollo/subgraph serves it, answering with these resolvers, then `tamper`ing with the answer. */
  serve(typeDefs: string, resolvers: Resolvers, tamper?: (answer: ExecutionResult) => void): void;
  /** Serves this text as its SDL (it need not even parse), answering nothing else. */
  serveText(sdl: string): void;
  /** A token it signs with its own key (published at its JWKS URL). */
  token(claims: Omit<TokenClaims, 'org' | 'jti' | 'expiresAt'>): Promise<string>;
}

async function startHostileMember(slug: string): Promise<HostileMember> {
  const { publicKey, privateKey } = (await generateKeyPair('Ed25519')) as { publicKey: CryptoKey; privateKey: CryptoKey };
  const kid = `${slug}-key`;
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }] };
  let sdl = '';
  let schema: GraphQLSchema | undefined;
  let tampering: ((answer: ExecutionResult) => void) | undefined;
  const received: string[] = [];
  const server = createServer(async (req, res) => {
    if (req.url === '/.well-known/jwks.json') return sendJson(res, 200, jwks);
    // It publishes no revocation list: gateways and the directory keep asking, and go on without it.
    if (req.url !== '/graphql' || req.method !== 'POST') return sendJson(res, 404, {});
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables?: Record<string, unknown> };
    if (isServiceSdlQuery(body)) return sendJson(res, 200, { data: { _service: { sdl } } });
    received.push(JSON.stringify(body));
    if (schema === undefined) return sendJson(res, 200, { errors: [{ message: 'nothing served' }] });
    const answer = await execute({ schema, source: body.query, variableValues: body.variables });
    tampering?.(answer);
    sendJson(res, 200, answer);
  });
  const url = await listen(server, 0, '127.0.0.1');
  disposers.add(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  );
  return {
    slug,
    url,
    received,
    serve(typeDefs, resolvers, tamper) {
      schema = buildSubgraphSchema({ typeDefs: parse(typeDefs), resolvers });
      sdl = (graphqlSync({ schema, source: '{ _service { sdl } }' }).data as { _service: { sdl: string } })._service.sdl;
      tampering = tamper;
    },
    serveText(text) {
      schema = undefined;
      sdl = text;
    },
    token: (claims) => signToken({ ...claims, org: slug, jti: randomUUID(), expiresAt: new Date(Date.now() + 3600_000) } as TokenClaims, { kid, privateKey }),
  };
}

const template = (slug: string) => orgSdl(orgNames(slug));

/** The template, importing more federation directives if asked, then `extra`. */
function hostile(extra: string, imports: string[] = []): string {
  const sdl = template('mallory').replace('import: ["@key", "@shareable"]', `import: ${JSON.stringify(['@key', '@shareable', ...imports])}`);
  return `${sdl}\n${extra}`;
}

const LAB = { id: 'mallory:lab-1', name: 'Lab 1', kind: 'lab', suppliedByIds: [] };
const PWNED = { id: 'acme:press-1', name: 'pwned', kind: 'press', description: 'pwned', suppliedByIds: [] };

/** Resolvers of mallory's template answering with `twin` wherever a twin is asked for, and `pwned` for anything of acme's. */
function answering(twin: Record<string, unknown>): Resolvers {
  return {
    Query: { mallory: () => ({}) },
    MalloryQuery: { twin: () => twin, twins: () => ({ edges: [{ cursor: 'c', node: twin }], pageInfo: { hasNextPage: false, endCursor: 'c' } }) },
    MalloryTwin: { __resolveReference: () => twin },
    AcmeTwin: { __resolveReference: () => PWNED, name: () => 'pwned', leak: () => 'pwned' },
  } as Resolvers;
}

interface Readiness {
  members: string[];
  templates: Record<string, number>;
  unreachable: string[];
  refused: { slug: string; reason: string }[];
  compositions: number;
  lastCompositionFailure: unknown;
}

async function readyz(gateway: Gateway = net.gateway): Promise<Readiness> {
  return (await (await fetch(gateway.url.replace('/graphql', '/readyz'))).json()) as Readiness;
}

/** Tells the gateways the membership changed (as the directory does) and waits until `check` holds on `/readyz`. */
async function recomposed(check: (ready: Readiness) => void, gateway?: Gateway): Promise<void> {
  await net.directory.membershipChanged();
  await eventually(async () => check(await readyz(gateway)));
}

/** mallory back to an honest template, composed. */
async function honest(): Promise<void> {
  mallory.serve(template('mallory'), answering(LAB));
  await recomposed((ready) => {
    expect(ready.members).toContain('mallory:ACTIVE');
    expect(ready.refused).toEqual([]);
  });
  mallory.received.length = 0;
}

const ACME_PRESS = { id: 'acme:press-1', name: 'Press 1', description: 'Hydraulic, 400 t', attributes: { tonnage: 400 } };

/** What no attack may change: acme's twin as acme says, the network's list, nothing of acme's sent to mallory, no read by mallory at acme. */
async function expectUnchanged(): Promise<void> {
  const twin = await net.query(`{ twin(id: "acme:press-1") { id name description ... on AcmeTwin { attributes } } }`, undefined, engineer);
  expect(twin).toEqual({ status: 200, data: { twin: ACME_PRESS } });
  const list = await net.query(`{ twins(first: 10) { edges { node { id name } } } }`, undefined, engineer);
  expect(list.errors).toBeUndefined();
  expect(list.data.twins.edges.map((edge: any) => edge.node)).toEqual([
    { id: 'acme:press-1', name: 'Press 1' },
    { id: 'globex:mill-1', name: 'Mill 1' },
  ]);
  expect(mallory.received.filter((operation) => operation.includes('acme'))).toEqual([]);
  const audit = await net.orgs.acme!.request(`{ acme { auditEvents(filter: { partner: "mallory" }) { edges { node { id } } } } }`);
  expect(audit.data.acme.auditEvents.edges).toEqual([]);
}

/** A globex engineer with a grant of mallory's: sees globex's twins and mallory's. */
async function partnerOfMallory(): Promise<Record<string, string>> {
  const grant = await mallory.token({
    kind: 'grant',
    subject: 'globex',
    scopes: ['twins:read'],
    selector: { ids: [], idGlobs: ['mallory:*'], kinds: [], tags: [] },
  });
  return bearer(await net.orgs.globex!.memberToken('viewer'), [grant]);
}

/** mallory serves `sdl` (as a subgraph would, or as raw text): the gateway must refuse it for `reason`, and nothing may change. */
async function expectRefused(sdl: string | { text: string }, reason: RegExp): Promise<void> {
  await honest();
  if (typeof sdl === 'string') mallory.serve(sdl, answering(PWNED));
  else mallory.serveText(sdl.text);
  await recomposed((ready) => {
    expect(ready.refused).toEqual([{ slug: 'mallory', reason: expect.stringMatching(reason) }]);
    expect(ready.members).toEqual(['acme:ACTIVE', 'globex:ACTIVE']);
  });
  await expectUnchanged();
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  const { acme, globex } = net.orgs as Required<TestNetwork['orgs']>;
  await acme!.createTwin({ ...ACME_PRESS, kind: 'press' });
  await globex!.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill' });
  await acme!.eventsPublished();
  await globex!.eventsPublished();
  await net.catalogHas(['acme:press-1', 'globex:mill-1']);
  const grant = await globex!.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { ids: ['globex:mill-1'] } });
  engineer = bearer(await acme!.memberToken('viewer', 'engineer'), [grant.token]);

  mallory = await startHostileMember('mallory');
  mallory.serve(template('mallory'), answering(LAB));
  await net.join({ org: 'mallory', url: mallory.url });
  // mallory lists a twin in the catalog, as its lifecycle events would.
  await net.directoryDb.catalogTwin.create({ data: { ...LAB, org: 'mallory', tags: [], updatedAt: new Date() } });
  await eventually(async () => expect((await readyz()).members).toEqual(['acme:ACTIVE', 'globex:ACTIVE', 'mallory:ACTIVE']));
});
afterAll(() => disposers.dispose());

describe('a member’s SDL is composed only as the organization template makes it', () => {
  it('composes mallory’s template, as version 1, and nothing is taken from anyone', async () => {
    await honest();
    expect((await readyz()).templates).toEqual({ acme: 1, globex: 1, mallory: 1 });
    await expectUnchanged();
  });

  it('refuses @override of acme’s name with @requires on acme’s private fields (the attack found)', async () => {
    await expectRefused(
      hostile(
        `type AcmeTwin @key(fields: "id") {
          id: ID!
          attributes: JSON @external
          description: String @external
          name: String @override(from: "acme") @requires(fields: "attributes description")
        }`,
        ['@override', '@requires', '@external'],
      ),
      /^matches no twinx template version \(v1: declares AcmeTwin, outside its namespace \(Mallory_\*\)/,
    );
  });

  it('refuses @requires on acme’s fields for a field of its own on acme’s type', async () => {
    await expectRefused(
      hostile(`type AcmeTwin @key(fields: "id") { id: ID! attributes: JSON @external leak: String @requires(fields: "attributes") }`, [
        '@requires',
        '@external',
      ]),
      /declares AcmeTwin, outside its namespace/,
    );
  });

  it('refuses @external and @provides aimed at acme’s type', async () => {
    await expectRefused(
      hostile(`extend type MalloryQuery { buddy: AcmeTwin @provides(fields: "name") } type AcmeTwin @key(fields: "id") { id: ID! name: String @external }`, [
        '@provides',
        '@external',
      ]),
      /MalloryQuery\.buddy carries @provides.*declares AcmeTwin, outside its namespace/,
    );
  });

  it('refuses @interfaceObject Twin', async () => {
    await expectRefused(
      hostile(`type Twin @key(fields: "id") @interfaceObject { id: ID! verdict: String }`, ['@interfaceObject']),
      /declares Twin, outside its namespace/,
    );
  });

  it('refuses a type outside its namespace', async () => {
    await expectRefused(
      hostile(`type Gauge { value: Float } extend type MalloryTwin { gauge: Gauge }`),
      /declares Gauge, outside its namespace \(Mallory_\*\)/,
    );
  });

  it('refuses a shared type changed: a field added to TwinState, a nullability changed', async () => {
    await expectRefused(hostile(`extend type TwinState { secret: String }`), /adds TwinState\.secret/);
    await expectRefused(template('mallory').replace('status: TwinStatus!', 'status: TwinStatus'), /changes TwinState\.status to "status: TwinStatus"/);
  });

  it('refuses a root field of its own', async () => {
    await expectRefused(hostile(`extend type Query { everything: [MalloryTwin!]! }`), /adds Query\.everything/);
  });

  it('refuses a @link importing other federation directives', async () => {
    await expectRefused(hostile('', ['@inaccessible', '@tag']), /declares schema @link\(.*"@inaccessible", "@tag"\]\), not the template's/);
  });

  it('refuses an SDL that does not parse, and one that does not compose, and composes the others', async () => {
    await expectRefused({ text: 'type MalloryTwin {' }, /^its SDL does not parse: Syntax Error/);
    // Passes the check (a field of its own twin type), but the directory's stub has `supplies`.
    await expectRefused(hostile(`extend type MalloryTwin { supplies: String }`), /^does not compose with the members before it: .*MalloryTwin\.supplies/);
  });

  it('keeps namespaces apart: mallory and mallory-labs both add a Gauge, and mallory may not take mallory-labs’ names', async () => {
    await honest();
    const labs = await startHostileMember('mallory-labs');
    const gauge = { value: () => 1 };
    labs.serve(`${template('mallory-labs')}\ntype MalloryLabs_Gauge { value: Float } extend type MalloryLabsQuery { gauge: MalloryLabs_Gauge }`, {
      Query: { malloryLabs: () => ({}) },
      MalloryLabsQuery: { gauge: () => ({}) },
      MalloryLabs_Gauge: gauge,
    } as Resolvers);
    await net.join({ org: 'mallory-labs', url: labs.url });
    mallory.serve(hostile(`type Mallory_Gauge { value: Float } extend type MalloryQuery { gauge: Mallory_Gauge }`), {
      ...answering(LAB),
      MalloryQuery: { gauge: () => ({}) },
      Mallory_Gauge: gauge,
    } as Resolvers);
    await recomposed((ready) => {
      expect(ready.members).toEqual(['acme:ACTIVE', 'globex:ACTIVE', 'mallory:ACTIVE', 'mallory-labs:ACTIVE']);
      expect(ready.refused).toEqual([]);
    });
    const both = await net.query(`{ mallory { gauge { value } } malloryLabs { gauge { value } } }`, undefined, engineer);
    expect(both).toEqual({ status: 200, data: { mallory: { gauge: { value: 1 } }, malloryLabs: { gauge: { value: 1 } } } });

    mallory.serve(hostile(`type MalloryLabsGauge { value: Float }`), answering(LAB));
    await recomposed((ready) => {
      expect(ready.refused).toEqual([{ slug: 'mallory', reason: expect.stringContaining('declares MalloryLabsGauge, outside its namespace (Mallory_*)') }]);
      expect(ready.members).toContain('mallory-labs:ACTIVE');
    });
    expect((await net.query(`{ malloryLabs { gauge { value } } }`, undefined, engineer)).data).toEqual({ malloryLabs: { gauge: { value: 1 } } });
    await net.admin(`mutation { network { suspendOrganization(slug: "mallory-labs") { status } } }`);
    await honest();
    expect((await readyz()).members).not.toContain('mallory-labs:ACTIVE');
  });
});

describe('ids belong to their organization in answers through the gateway', () => {
  it('refuses mallory’s answer to its own root field when it carries acme’s twin ids, as a whole', async () => {
    await honest();
    mallory.serve(template('mallory'), answering(PWNED));
    for (const query of [
      `{ mallory { twins { edges { node { id name } } } } }`,
      `{ mallory { twin(id: "mallory:lab-1") { key: id name } } }`,
      `{ mallory { twin(id: "mallory:lab-1") { ...Twin } } } fragment Twin on MalloryTwin { ... on MalloryTwin { id } name }`,
    ]) {
      const response = await net.query(query, undefined, engineer);
      expect(response.errors).toEqual([expect.objectContaining({ extensions: { code: 'FOREIGN_ID', subgraph: 'mallory' } })]);
      expect(response.data).toBeNull();
      expect(JSON.stringify(response)).not.toContain('pwned');
    }
    await expectUnchanged();
  });

  it('refuses mallory’s entities when they claim a type that is not theirs there, and the rest of the list still answers', async () => {
    await honest();
    const partner = await partnerOfMallory();
    const list = () => net.query(`{ twins(first: 10) { edges { node { __typename id name } } } }`, undefined, partner);
    expect((await list()).data.twins.edges.map((edge: any) => edge.node)).toEqual([
      { __typename: 'GlobexTwin', id: 'globex:mill-1', name: 'Mill 1' },
      { __typename: 'MalloryTwin', id: 'mallory:lab-1', name: 'Lab 1' },
    ]);
    // The gateway would merge an entity answered as an AcmeTwin into acme's type: mallory's twin passing for acme's.
    for (const typename of ['AcmeTwin', 'TwinState']) {
      mallory.serve(template('mallory'), answering(LAB), (answer) => Object.assign((answer.data as any)._entities[0], { __typename: typename, name: 'pwned' }));
      const response = await list();
      expect(response.errors, typename).toEqual([expect.objectContaining({ extensions: { code: 'FOREIGN_ID', subgraph: 'mallory' } })]);
      expect(response.data.twins.edges.map((edge: any) => edge.node)).toEqual([
        { __typename: 'GlobexTwin', id: 'globex:mill-1', name: 'Mill 1' },
        { __typename: 'MalloryTwin', id: 'mallory:lab-1', name: null },
      ]);
      expect(JSON.stringify(response)).not.toContain('pwned');
    }
    await expectUnchanged();
  });

  it('refuses mallory’s answers that say what they were not asked: an entity’s id and organization, another’s root field', async () => {
    await honest();
    const partner = await partnerOfMallory();
    // The directory gives each entity its id and organization; the gateway would merge mallory's over them.
    mallory.serve(template('mallory'), answering(LAB), (answer) =>
      Object.assign((answer.data as any)._entities?.[0] ?? {}, { id: 'globex:mill-1', org: { slug: 'globex', name: 'pwned' } }),
    );
    const list = await net.query(`{ twins(first: 10) { edges { node { id name org { slug name } } } } }`, undefined, partner);
    expect(list.errors).toEqual([expect.objectContaining({ extensions: { code: 'FOREIGN_ID', subgraph: 'mallory' } })]);
    expect(list.data.twins.edges.map((edge: any) => [edge.node.id, edge.node.org.slug])).toEqual([
      ['globex:mill-1', 'globex'],
      ['mallory:lab-1', 'mallory'],
    ]);
    expect(JSON.stringify(list)).not.toContain('pwned');
    // Next to a root field of mallory's, globex's own: mallory's answer would be merged over it.
    mallory.serve(template('mallory'), answering(LAB), (answer) => Object.assign(answer.data ?? {}, { globex: { twin: { name: 'pwned' } } }));
    const both = await net.query(`{ globex { twin(id: "globex:mill-1") { name } } mallory { twin(id: "mallory:lab-1") { name } } }`, undefined, partner);
    expect(both.errors).toEqual([expect.objectContaining({ extensions: { code: 'FOREIGN_ID', subgraph: 'mallory' } })]);
    // mallory's root field is non-null: its refusal leaves no data at all, and nothing of mallory's.
    expect(both.data).toBeNull();
    expect(JSON.stringify(both)).not.toContain('pwned');
    await expectUnchanged();
  });
});

describe('a refused, broken or unreachable member never stops the others', () => {
  const bad = () => hostile(`extend type Query { everything: [MalloryTwin!]! }`);

  it('a running gateway keeps serving the others after mallory turns bad', async () => {
    await honest();
    const own = await net.query(`{ mallory { twin(id: "mallory:lab-1") { id name } } }`, undefined, engineer);
    expect(own.data).toEqual({ mallory: { twin: { id: 'mallory:lab-1', name: 'Lab 1' } } });
    mallory.serve(bad(), answering(LAB));
    await recomposed((ready) => expect(ready.refused.map((refusal) => refusal.slug)).toEqual(['mallory']));
    expect(codes(await net.query(`{ mallory { twin(id: "mallory:lab-1") { id } } }`, undefined, engineer))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    await expectUnchanged();
  });

  it('a gateway started while mallory is bad starts without it and serves acme and globex', async () => {
    mallory.serve(bad(), answering(LAB));
    const gateway = await net.startGateway({ pollMs: 60_000 });
    const ready = await readyz(gateway);
    expect(ready.members).toEqual(['acme:ACTIVE', 'globex:ACTIVE']);
    expect(ready.refused).toEqual([{ slug: 'mallory', reason: expect.stringContaining('adds Query.everything') }]);
    const twins = await graphql(
      gateway.url,
      `
        {
          twins(first: 10) {
            edges {
              node {
                id
                name
              }
            }
          }
        }
      `,
      undefined,
      engineer,
    );
    expect(twins.data.twins.edges.map((edge: any) => edge.node.name)).toEqual(['Press 1', 'Mill 1']);
  });

  it('a member answering more than a gateway reads of it at once is unavailable for that, and the rest still answers', async () => {
    await honest();
    const partner = await partnerOfMallory();
    const gateway = await net.startGateway({ pollMs: 60_000, maxAnswerBytesInFlight: 1024 * 1024 });
    expect((await readyz(gateway)).members).toContain('mallory:ACTIVE');
    const LIST = `{ twins(first: 10) { edges { node { id name } } } }`;
    expect((await graphql(gateway.url, LIST, undefined, partner)).data.twins.edges.map((edge: any) => edge.node.name)).toEqual(['Mill 1', 'Lab 1']);
    mallory.serve(template('mallory'), answering({ ...LAB, name: 'x'.repeat(2 * 1024 * 1024) }));
    const answer = await graphql(gateway.url, LIST, undefined, partner);
    expect(answer.data.twins.edges.map((edge: any) => [edge.node.id, edge.node.name])).toEqual([
      ['globex:mill-1', 'Mill 1'],
      ['mallory:lab-1', null],
    ]);
    expect(answer.errors).toEqual([
      expect.objectContaining({
        message: 'mallory is unavailable: its answers being read hold too much.',
        extensions: expect.objectContaining({ code: 'UNAVAILABLE', subgraph: 'mallory' }),
      }),
    ]);
  });

  it('the directory hands out no twin of a member the gateway refused: the list still answers', async () => {
    mallory.serve(bad(), answering(LAB));
    await recomposed((ready) => expect(ready.refused.map((refusal) => refusal.slug)).toEqual(['mallory']));
    // mallory's own people: their token is still good at the gateway, mallory's twins are not handed out.
    const malloryAdmin = bearer(await mallory.token({ kind: 'member', subject: 'eve', scopes: ['twins:read'] }));
    const viaGateway = await net.query(`{ twins(first: 10) { edges { node { id } } } }`, undefined, malloryAdmin);
    expect(viaGateway).toEqual({ status: 200, data: { twins: { edges: [] } } });
    // A partner of mallory's and globex's: globex's twins, none of mallory's, no error.
    const partner = await net.query(`{ twins(first: 10) { edges { node { id name } } } }`, undefined, await partnerOfMallory());
    expect(partner).toEqual({ status: 200, data: { twins: { edges: [{ node: { id: 'globex:mill-1', name: 'Mill 1' } }] } } });
    // The directory itself: the header only narrows what the caller's tokens let it see.
    const direct = async (headers: Record<string, string>) =>
      (
        await graphql(
          net.directory.url,
          `
            {
              twins(first: 10) {
                edges {
                  node {
                    id
                  }
                }
              }
            }
          `,
          undefined,
          { ...malloryAdmin, ...headers },
        )
      ).data.twins.edges.map((edge: any) => edge.node.id);
    expect(await direct({})).toEqual(['mallory:lab-1']);
    expect(await direct({ [COMPOSED_HEADER]: 'mallory' })).toEqual(['mallory:lab-1']);
    expect(await direct({ [COMPOSED_HEADER]: 'acme,globex' })).toEqual([]);
    expect(await direct({ [COMPOSED_HEADER]: '' })).toEqual([]);
    await expectUnchanged();
  });

  it('a member unreachable when a gateway starts is composed from the template', async () => {
    const url = `http://127.0.0.1:${await freePort()}/graphql`;
    await net.join({ org: 'umbrella', url });
    const gateway = await net.startGateway({ pollMs: 60_000 });
    const ready = await readyz(gateway);
    expect(ready.members).toEqual(['acme:ACTIVE', 'globex:ACTIVE', 'umbrella:ACTIVE']);
    expect(ready.unreachable).toEqual(['umbrella']);
    expect(ready.templates.umbrella).toBe(1);
    const twin = await graphql(
      gateway.url,
      `
        {
          twin(id: "acme:press-1") {
            name
          }
        }
      `,
      undefined,
      engineer,
    );
    expect(twin).toEqual({ status: 200, data: { twin: { name: 'Press 1' } } });
  });

  it('shows mallory’s refusal, with its reason, on /readyz and in `twinx network list`', async () => {
    mallory.serve(bad(), answering(LAB));
    await recomposed((ready) => expect(ready.refused.map((refusal) => refusal.slug)).toEqual(['mallory']));
    const { reason } = (await readyz()).refused[0]!;
    expect(reason).toMatch(/^matches no twinx template version \(v1: adds Query\.everything/);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [new URL('../../bin/twinx.mjs', import.meta.url).pathname, 'network', 'list', '--database-url', net.directoryDatabaseUrl],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    const lines = stdout.trim().split('\n');
    expect(lines).toContain(`acme  ACTIVE  acme  ${net.orgs.acme!.url}  template v1`);
    expect(lines).toContain(`mallory  ACTIVE  mallory  ${mallory.url}  refused: ${reason}`);
    expect(lines.find((line) => line.startsWith('umbrella  ACTIVE'))).toMatch(/ unreachable, composed from the template: .*ECONNREFUSED$/);
    await net.admin(`mutation { network { suspendOrganization(slug: "umbrella") { status } } }`);
  });

  it('coalesces a flood of network.changed (the operator’s own announcement, replayed): a few compositions, not one per message', async () => {
    const subject = natsNames(net.subjectPrefix).networkChangedSubject;
    const captured = new Promise<Msg>((resolve) => net.nats.subscribe(subject, { max: 1, callback: (_error, message) => resolve(message) }));
    await honest();
    const announcement = await captured;
    const before = (await readyz()).compositions;
    for (let i = 0; i < 500; i++) net.nats.publish(subject, announcement.data, { headers: announcement.headers });
    // Unsigned ones are not even heard.
    for (let i = 0; i < 500; i++) net.nats.publish(subject);
    await net.nats.flush();
    // A change told after the flood is seen once the flood is dealt with.
    mallory.serve(bad(), answering(LAB));
    await recomposed((ready) => expect(ready.refused.map((refusal) => refusal.slug)).toEqual(['mallory']));
    const done = (await readyz()).compositions - before;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThanOrEqual(5);
  });
});
