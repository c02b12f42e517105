import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { isServiceSdlQuery } from '../../lib/graphql/service-query.ts';
import { graphql, type GraphQLResponse } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, type TestOrg } from '../support/org.ts';
import { Disposers, eventually, startHttpServer } from '../support/services.ts';

/**
 * Identical subgraph queries in flight at once share one request, and nothing else does: the
 * organizations sit behind proxies that count the operations the gateway sends them (their SDL
 * aside) and, while told to, hold them, so that requests are surely in flight together.
 */

const disposers = new Disposers();
let net: TestNetwork;
let gateway: Gateway;
/** vega's admin: sees both of vega's twins. */
let admin: Record<string, string>;
/** A lyra viewer holding a grant of vega's that selects vega:press-1 only. */
let partner: Record<string, string>;
/** lyra's admin holding the same grant. */
let lyraAdmin: Record<string, string>;
let vega: CountingProxy;
let lyra: CountingProxy;
let vegaOrg: TestOrg;
let lyraOrg: TestOrg;

interface CountingProxy {
  url: string;
  /** Bodies of the operations received, in order. */
  received: string[];
  /** Holds every operation received from now on until `release()`. */
  hold(): void;
  release(): void;
}

/** A proxy in front of an organization: every request passed on as it came, operations counted (and held when told). */
async function countingProxy(memberUrl: string): Promise<CountingProxy> {
  const target = new URL(memberUrl);
  const received: string[] = [];
  let held: Promise<void> = Promise.resolve();
  let release = () => undefined as void;
  const url = await startHttpServer(disposers, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && !isServiceSdlQuery(JSON.parse(body))) {
        received.push(body);
        await held;
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const name of ['authorization', 'twin-grants']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
      const answer = await fetch(new URL(req.url!, target), { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(await answer.text());
    });
  });
  return {
    url,
    received,
    hold: () => void (held = new Promise((resolve) => (release = resolve))),
    release: () => release(),
  };
}

/** Sends each request once every one before it is held at vega (each makes a request of its own), then lets them all through. */
async function heldTogether(requests: { query: string; headers: Record<string, string> }[]): Promise<GraphQLResponse<any>[]> {
  const before = vega.received.length;
  vega.hold();
  const answers: Promise<GraphQLResponse<any>>[] = [];
  for (const { query, headers } of requests) {
    answers.push(graphql(gateway.url, query, undefined, headers));
    await eventually(async () => expect(vega.received.length - before).toBe(answers.length));
  }
  vega.release();
  return Promise.all(answers);
}

const VEGA_TWINS = `{ vega { twins(first: 10) { edges { node { id } } } } }`;
const ids = (answer: GraphQLResponse<any> | undefined) => answer?.data?.vega.twins.edges.map((edge: { node: { id: string } }) => edge.node.id);

beforeAll(async () => {
  net = await startNetwork(disposers, []);
  [vegaOrg, lyraOrg] = [await net.startOrg('vega'), await net.startOrg('lyra')];
  [vega, lyra] = [await countingProxy(vegaOrg.url), await countingProxy(lyraOrg.url)];
  await net.join({ org: 'vega', url: vega.url });
  await net.join({ org: 'lyra', url: lyra.url });
  for (const id of ['vega:press-1', 'vega:press-2']) await vegaOrg.createTwin({ id, name: `Press ${id.at(-1)}`, kind: 'press' });
  await lyraOrg.createTwin({ id: 'lyra:line-1', name: 'Line 1', kind: 'line', suppliedByIds: ['vega:press-1'] });
  await vegaOrg.eventsPublished();
  await lyraOrg.eventsPublished();
  await net.catalogHas(['vega:press-1', 'vega:press-2', 'lyra:line-1']);
  admin = bearer(vegaOrg.adminToken);
  const grant = await vegaOrg.grantToken({ partner: 'lyra', scopes: ['twins:read'], selector: { ids: ['vega:press-1'] } });
  partner = bearer(await lyraOrg.memberToken('viewer'), [grant.token]);
  lyraAdmin = bearer(lyraOrg.adminToken, [grant.token]);
  gateway = await net.startGateway();
});
afterAll(() => disposers.dispose());

describe('identical subgraph queries in flight at once', () => {
  it('share one request when the same caller asks them, and each caller gets the answer', async () => {
    // Each asks lyra something of its own beside the same question to vega, in the same query plan
    // step: once lyra has the second's, the second has asked vega too.
    const asking = (alias: string) =>
      graphql(gateway.url, `{ vega { twin(id: "vega:press-1") { id name } } ${alias}: lyra { twins(first: 1) { edges { cursor } } } }`, undefined, partner);
    const lyraBefore = lyra.received.length;
    const vegaBefore = vega.received.length;
    vega.hold();
    const first = asking('first');
    await eventually(async () => expect(vega.received.length - vegaBefore).toBe(1));
    const second = asking('second');
    await eventually(async () => expect(lyra.received.slice(lyraBefore).filter((body) => body.includes('second'))).toHaveLength(1));
    vega.release();
    for (const answer of await Promise.all([first, second])) expect(answer.data?.vega).toEqual({ twin: { id: 'vega:press-1', name: 'Press 1' } });
    expect(vega.received.length - vegaBefore).toBe(1);
  });

  it('are each sent when callers present different tokens: each gets what its own tokens show', async () => {
    const [fromAdmin, fromPartner] = await heldTogether([
      { query: VEGA_TWINS, headers: admin },
      { query: VEGA_TWINS, headers: partner },
    ]);
    expect(ids(fromAdmin)).toEqual(['vega:press-1', 'vega:press-2']);
    expect(ids(fromPartner)).toEqual(['vega:press-1']);
    // And the other way round: the first in flight is the partner's.
    const [partnerFirst, adminSecond] = await heldTogether([
      { query: VEGA_TWINS, headers: partner },
      { query: VEGA_TWINS, headers: admin },
    ]);
    expect(ids(partnerFirst)).toEqual(['vega:press-1']);
    expect(ids(adminSecond)).toEqual(['vega:press-1', 'vega:press-2']);
  });

  it('are each sent for entity fetches of different callers', async () => {
    // Two lyra viewers with grants of their own: the line's supplier is then fetched from vega with each one's grant.
    const another = await vegaOrg.grantToken({ partner: 'lyra', scopes: ['twins:read'], selector: { ids: ['vega:press-1'] } });
    const query = `{ twin(id: "lyra:line-1") { suppliedBy { id name } } }`;
    const answers = await heldTogether([
      { query, headers: partner },
      { query, headers: bearer(await lyraOrg.memberToken('viewer'), [another.token]) },
    ]);
    for (const answer of answers) expect(answer).toEqual({ status: 200, data: { twin: { suppliedBy: [{ id: 'vega:press-1', name: 'Press 1' }] } } });
    expect(vega.received.slice(-2).every((body) => body.includes('_entities'))).toBe(true);
  });

  it('are each sent when they are mutations: both execute', async () => {
    const create = `mutation { vega { createTwin(input: { id: "vega:press-3", name: "Press 3", kind: "press" }) { id } } }`;
    const answers = await heldTogether([
      { query: create, headers: admin },
      { query: create, headers: admin },
    ]);
    // One created it; the other, executed too, found it there.
    expect(answers.map((answer) => answer.errors?.[0]?.extensions?.code ?? answer.data?.vega.createTwin.id).sort()).toEqual(['ALREADY_EXISTS', 'vega:press-3']);
  });

  it("are never shared with a mutation's later fetches, which read what it wrote", async () => {
    const vegaBefore = vega.received.length;
    vega.hold();
    const reading = graphql(
      gateway.url,
      `
        {
          twin(id: "lyra:line-1") {
            suppliedBy {
              id
              name
            }
          }
        }
      `,
      undefined,
      lyraAdmin,
    );
    await eventually(async () => expect(vega.received.length - vegaBefore).toBe(1));
    // After lyra's write, the line's supplier is fetched from vega as the reading's is, with the same tokens.
    const writing = graphql(
      gateway.url,
      `
        mutation {
          lyra {
            updateTwin(id: "lyra:line-1", patch: { description: "relined" }) {
              id
              suppliedBy {
                id
                name
              }
            }
          }
        }
      `,
      undefined,
      lyraAdmin,
    );
    await eventually(async () => expect(vega.received.length - vegaBefore).toBe(2));
    vega.release();
    expect((await reading).data).toEqual({ twin: { suppliedBy: [{ id: 'vega:press-1', name: 'Press 1' }] } });
    expect((await writing).data).toEqual({ lyra: { updateTwin: { id: 'lyra:line-1', suppliedBy: [{ id: 'vega:press-1', name: 'Press 1' }] } } });
    // The same request twice: only what the incoming operations were kept them apart.
    const [read, written] = vega.received.slice(vegaBefore);
    expect(written).toBe(read);
  });

  it('are each sent by a gateway that does not share them (`dedupe: false`)', async () => {
    const own = await net.startGateway({ dedupe: false });
    const query = `{ vega { twin(id: "vega:press-2") { id name } } }`;
    const before = vega.received.length;
    vega.hold();
    const answers = [graphql(own.url, query, undefined, admin), graphql(own.url, query, undefined, admin)];
    await eventually(async () => expect(vega.received.length - before).toBe(2));
    vega.release();
    for (const answer of await Promise.all(answers)) expect(answer.data).toEqual({ vega: { twin: { id: 'vega:press-2', name: 'Press 2' } } });
  });
});
