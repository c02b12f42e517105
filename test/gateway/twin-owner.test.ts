import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { isServiceSdlQuery } from '../../lib/graphql/service-query.ts';
import { graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, type TestOrg } from '../support/org.ts';
import { Disposers, startHttpServer } from '../support/services.ts';

/**
 * `twin(id)` is asked of the twin's organization alone when the gateway knows what the directory
 * would check, and answers as the directory's would have. The gateway reaches the directory
 * through a proxy that counts the GraphQL operations it is sent.
 */

const disposers = new Disposers();
let net: TestNetwork;
let gateway: Gateway;
/** Operations the directory was sent (its SDL aside). */
const directoryOperations: string[] = [];
/** vega's admin: sees every vega twin. */
let admin: Record<string, string>;
/** A lyra viewer holding a vega grant that selects vega:press-1 only (twins:read). */
let partner: Record<string, string>;
/** A lyra viewer without any vega token. */
let lyraOnly: Record<string, string>;
let lyraOrg: TestOrg;

/** A proxy in front of the directory: every request passed on with its headers, operations counted. */
async function countingProxy(targetUrl: string): Promise<string> {
  const target = new URL(targetUrl);
  return startHttpServer(disposers, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && !isServiceSdlQuery(JSON.parse(body))) directoryOperations.push(body);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string' && !['host', 'content-length', 'connection'].includes(entry[0]),
        ),
      );
      const answer = await fetch(new URL(req.url!, target), { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(await answer.text());
    });
  });
}

/** The answer to `query`, and the operations the directory was sent meanwhile. */
async function ask(query: string, headers: Record<string, string>, variables?: Record<string, unknown>) {
  const before = directoryOperations.length;
  const answer = await graphql<any>(gateway.url, query, variables, headers);
  return { ...answer, directoryAsked: directoryOperations.slice(before) };
}

beforeAll(async () => {
  net = await startNetwork(disposers, []);
  const [vega, lyra] = [await net.startOrg('vega'), await net.startOrg('lyra')];
  lyraOrg = lyra;
  await net.join(vega);
  await net.join(lyra);
  await vega.createTwin({ id: 'vega:press-1', name: 'Press 1', kind: 'press' });
  await vega.createTwin({ id: 'vega:press-2', name: 'Press 2', kind: 'press' });
  await vega.createTwin({ id: 'vega:hidden-1', name: 'Not listed', kind: 'press', listed: false });
  await lyra.createTwin({ id: 'lyra:line-1', name: 'Line 1', kind: 'line', suppliedByIds: ['vega:press-1'] });
  await vega.eventsPublished();
  await lyra.eventsPublished();
  await net.catalogHas(['vega:press-1', 'vega:press-2', 'lyra:line-1']);
  admin = bearer(vega.adminToken);
  const grant = await vega.grantToken({ partner: 'lyra', scopes: ['twins:read'], selector: { ids: ['vega:press-1'] } });
  const viewer = await lyra.memberToken('viewer');
  partner = bearer(viewer, [grant.token]);
  lyraOnly = bearer(viewer);
  gateway = await net.startGateway({ directoryUrl: await countingProxy(net.directory.url) });
});
afterAll(() => disposers.dispose());

describe('twin(id) through the gateway', () => {
  it('is asked of the twin organization alone, aliases, variables and order kept', async () => {
    const one = await ask(`query($id: ID!) { twin(id: $id) { id name kind __typename } }`, admin, { id: 'vega:press-1' });
    expect(one.errors).toBeUndefined();
    expect(one.data).toEqual({ twin: { id: 'vega:press-1', name: 'Press 1', kind: 'press', __typename: 'VegaTwin' } });
    expect(one.directoryAsked).toEqual([]);
    // A query too long for its plan to be kept is planned for itself, the same way.
    const long = await ask(`# ${'x'.repeat(20_000)}\n{ twin(id: "vega:press-1") { name } }`, admin);
    expect({ data: long.data, asked: long.directoryAsked.length }).toEqual({ data: { twin: { name: 'Press 1' } }, asked: 0 });
    // The same document again: each time asked of the organization its variables name, if the caller may be.
    for (const [id, headers, twin, directoryAsked] of [
      ['lyra:line-1', partner, { id: 'lyra:line-1', name: 'Line 1' }, 0],
      ['vega:press-1', lyraOnly, null, 1],
      ['vega:press-1', partner, { id: 'vega:press-1', name: 'Press 1' }, 0],
    ] as const) {
      const again = await ask(`query($id: ID!) { twin(id: $id) { id name kind __typename } }`, headers, { id });
      expect({ id, data: again.data, asked: again.directoryAsked.length }).toEqual({
        id,
        data: { twin: twin && { ...twin, kind: expect.any(String), __typename: expect.any(String) } },
        asked: directoryAsked,
      });
    }

    const two = await ask(`{ b: twin(id: "lyra:line-1") { name } organizations { slug } a: twin(id: "vega:press-1") { name } }`, partner);
    expect(two.errors).toBeUndefined();
    expect(Object.keys(two.data)).toEqual(['b', 'organizations', 'a']);
    expect(two.data).toEqual({ b: { name: 'Line 1' }, organizations: expect.arrayContaining([{ slug: 'vega' }, { slug: 'lyra' }]), a: { name: 'Press 1' } });
    // The directory is asked for what only it answers.
    expect(two.directoryAsked).toHaveLength(1);
    expect(two.directoryAsked[0]).toContain('organizations');
    expect(two.directoryAsked[0]).not.toContain('twin(');
  });

  it('answers null where the directory would: not listed, not selected by the grant, no token of the owner, no such twin or member', async () => {
    for (const [id, headers] of [
      ['vega:hidden-1', admin],
      ['vega:press-2', partner],
      ['vega:press-1', lyraOnly],
      ['vega:nope', admin],
      ['nope:press-1', admin],
    ] as const) {
      const answer = await ask(`{ twin(id: "${id}") { id name } }`, headers);
      expect({ id, errors: answer.errors, data: answer.data }).toEqual({ id, errors: undefined, data: { twin: null } });
    }
    // An id of another shape is refused as the directory refuses it.
    const refused = await ask(`{ twin(id: "not an id") { id } }`, admin);
    expect(refused.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
  });

  it('keeps what the directory adds to a twin, and its way for selections of another organization', async () => {
    const line = await ask(`{ twin(id: "lyra:line-1") { org { slug } suppliedBy { id name } } }`, partner);
    expect(line.errors).toBeUndefined();
    expect(line.data).toEqual({ twin: { org: { slug: 'lyra' }, suppliedBy: [{ id: 'vega:press-1', name: 'Press 1' }] } });
    expect(line.directoryAsked.every((body) => !body.includes('twin('))).toBe(true);

    const typed = await ask(`{ twin(id: "vega:press-1") { ... on LyraTwin { kind } ... on VegaTwin { name } } }`, admin);
    expect(typed.errors).toBeUndefined();
    expect(typed.data).toEqual({ twin: { name: 'Press 1' } });
    expect(typed.directoryAsked.some((body) => body.includes('twin('))).toBe(true);
  });

  it('keeps @include and @skip, and places the owner errors under the twin', async () => {
    const skipped = await ask(
      `query($on: Boolean!) { twin(id: "vega:press-1") @include(if: $on) { id } other: twin(id: "vega:press-1") @skip(if: $on) { id } }`,
      admin,
      {
        on: false,
      },
    );
    expect(skipped.data).toEqual({ other: { id: 'vega:press-1' } });

    // The partner's grant gives no telemetry:read.
    const forbidden = await ask(`{ press: twin(id: "vega:press-1") { name telemetry(metric: "temperature") { edges { cursor } } } }`, partner);
    expect(forbidden.data).toEqual({ press: { name: 'Press 1', telemetry: null } });
    expect(forbidden.errors?.map((error: any) => [error.extensions.code, error.path])).toEqual([['FORBIDDEN', ['press', 'telemetry']]]);
  });

  it('says nothing of a twin not listed, errors included', async () => {
    // The admin may read vega:hidden-1 but not ask the telemetry of a metric it lacks: the owner says so, the gateway does not.
    const hidden = await ask(`{ twin(id: "vega:hidden-1") { name telemetry(metric: "nope") { edges { cursor } } } }`, admin);
    expect({ data: hidden.data, errors: hidden.errors }).toEqual({ data: { twin: null }, errors: undefined });
  });

  it('keeps to the operation named, and leaves fragments at the root to the directory', async () => {
    const document = `query A { a: twin(id: "vega:press-1") { id } } query B { b: twin(id: "vega:press-2") { name } }`;
    for (const name of ['B', 'A', 'B']) {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...admin },
        body: JSON.stringify({ query: document, operationName: name }),
      });
      const answer = (await response.json()) as { data?: unknown };
      expect(answer.data).toEqual(name === 'A' ? { a: { id: 'vega:press-1' } } : { b: { name: 'Press 2' } });
    }
    const merged = await ask(`{ ...F twin(id: "vega:press-1") { id } } fragment F on Query { twin(id: "vega:press-1") { name } }`, admin);
    expect(merged.data).toEqual({ twin: { name: 'Press 1', id: 'vega:press-1' } });
    expect(merged.directoryAsked.some((body) => body.includes('twin('))).toBe(true);
  });

  it("answers the rest when a twin's organization fails, its twin as the directory's way gives it", async () => {
    const query = `{ organizations { slug } press: twin(id: "vega:press-1") { name } line: twin(id: "lyra:line-1") { name } }`;
    await lyraOrg.stop();
    const answer = await ask(query, partner);
    expect(answer.data).toEqual({ organizations: expect.any(Array), press: { name: 'Press 1' }, line: { name: null } });
    expect(answer.errors?.map((error: any) => [error.extensions.code, error.path])).toEqual([['UNAVAILABLE', ['line']]]);
    // Only lyra's twin is asked again, the directory's way: the rest once, vega's twin of its own.
    expect(answer.directoryAsked.filter((body) => body.includes('organizations'))).toHaveLength(1);
    expect(answer.directoryAsked.filter((body) => body.includes('vega:press-1'))).toEqual([]);
    expect(answer.directoryAsked.filter((body) => body.includes('lyra:line-1'))).toHaveLength(1);
  });
});
