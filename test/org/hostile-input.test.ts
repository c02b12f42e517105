import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../lib/errors.ts';
import { codes, deeplyNestedBody, whileHealthChecked, type GraphQLResponse } from '../support/graphql.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

/**
 * Cheap requests that would cost an organization's endpoint seconds of work are refused before
 * that work, with a clear error, in milliseconds, while its health checks keep answering.
 */
const disposers = new Disposers();
let acme: TestOrg;

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics: [{ name: 'temperature', unit: 'C' }] });
});
afterAll(() => disposers.dispose());

/** Sends a raw body to the organization's `/graphql` as its admin. */
async function post(body: string): Promise<GraphQLResponse> {
  const response = await fetch(acme.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.adminToken}` },
    body,
  });
  return { status: response.status, ...((await response.json()) as object) };
}

async function twinCount(): Promise<number> {
  return acme.db.twin.count();
}

describe("an organization's endpoint bounds its work before doing it", () => {
  it('refuses 700 aliased twin lists by their cost, before resolving any', async () => {
    const aliases = Array.from({ length: 700 }, (_, i) => `t${i}: twins { edges { node { id } } }`).join(' ');
    const { result: response, ms, health } = await whileHealthChecked(acme.url, () => acme.request(`{ acme { ${aliases} } }`));
    expect(response.status).toBe(400);
    expect(response.data).toBeUndefined();
    // Each list is a page of `first` (50 by default) edges.
    expect(response.errors?.map((error) => error.extensions)).toEqual([
      { code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'cost', limit: 20_000, actual: 1 + 700 * (1 + 50 * (1 + (1 + 1))) },
    ]);
    expect(ms).toBeLessThan(2000);
    expect(health).toMatchObject({ status: 200 });
    expect(health.ms).toBeLessThan(2000);
  });

  it('refuses 1,000 aliased creations by their size before parsing them, and creates nothing', async () => {
    const before = await twinCount();
    const aliases = Array.from({ length: 1000 }, (_, i) => `c${i}: createTwin(input: { id: "acme:x-${i}", name: "x", kind: "x" }) { id }`).join(' ');
    const { result: response, ms } = await whileHealthChecked(acme.url, () => acme.request(`mutation { acme { ${aliases} } }`));
    expect(response.status).toBe(400);
    expect(response.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'tokens', limit: 10_000 }]);
    expect(ms).toBeLessThan(2000);
    expect(await twinCount()).toBe(before);
  });

  it('refuses 300,000 __typename or 100,000 introspection aliases unparsed', async () => {
    for (const [field, count] of [
      ['__typename', 300_000],
      ['__schema { types { name } }', 100_000],
    ] as const) {
      const aliases = Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ');
      const { result: response, ms, health } = await whileHealthChecked(acme.url, () => acme.request(`{ ${aliases} }`));
      expect(response.status).toBe(400);
      expect(response.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'tokens', limit: 10_000 }]);
      expect(ms).toBeLessThan(2000);
      expect(health.ms).toBeLessThan(2000);
    }
  });

  it('refuses a body larger than its limit unread', async () => {
    const { result: response, ms } = await whileHealthChecked(acme.url, () =>
      post(JSON.stringify({ query: `{ __typename }`, variables: { v: 'x'.repeat(9 * 1024 * 1024) } })),
    );
    expect(response.status).toBe(413);
    expect(codes(response)).toEqual([ErrorCode.REQUEST_TOO_LARGE]);
    expect(ms).toBeLessThan(2000);
  });

  it('prices an aggregate by the buckets it computes', async () => {
    const aggregate = (hours: number) =>
      acme.request(
        `query($to: DateTime!) { acme { twin(id: "acme:press-1") { aggregates(metric: "temperature", from: "2026-01-01T00:00:00Z", to: $to, bucketSeconds: 1) { start count avg min max } } } }`,
        { to: new Date(Date.UTC(2026, 0, 1, hours)).toISOString() },
      );
    // 3 hours of one-second buckets: 10,800 buckets of 5 fields.
    const refused = await aggregate(3);
    expect(refused.status).toBe(400);
    expect(refused.errors?.map((error) => error.extensions)).toEqual([
      { code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'cost', limit: 20_000, actual: 1 + 1 + 1 + 10_800 * 5 },
    ]);
    // An hour's 3,600 buckets are within the limit (and within maxBuckets).
    const allowed = await aggregate(1);
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data.acme.twin.aggregates).toEqual([]);
  });

  it('refuses 7.6 MB of deeply nested JSON variables before parsing them', async () => {
    const body = deeplyNestedBody('query($v: JSON) { acme { twins(filter: $v) { edges { node { id } } } } }');
    expect(body.length).toBeGreaterThan(7_600_000);
    const { result: response, ms, health } = await whileHealthChecked(acme.url, () => post(body));
    expect(response.status).toBe(400);
    expect(codes(response)).toEqual([ErrorCode.BAD_REQUEST]);
    expect(ms).toBeLessThan(2000);
    expect(health).toMatchObject({ status: 200 });
    expect(health.ms).toBeLessThan(2000);
  });

  it('refuses deeply nested JSON variables in a GET request, as in a body', async () => {
    const url = new URL(acme.url);
    url.searchParams.set('query', 'query($v: JSON) { acme { twins(filter: $v) { edges { node { id } } } } }');
    url.searchParams.set('variables', `{"v":${'['.repeat(1000)}${']'.repeat(1000)}}`);
    const response = await fetch(url, { headers: { authorization: `Bearer ${acme.adminToken}`, 'apollo-require-preflight': 'true' } });
    expect(response.status).toBe(400);
    expect(codes((await response.json()) as GraphQLResponse)).toEqual([ErrorCode.BAD_REQUEST]);
  });

  it('accepts JSON nested as deep as requests need', async () => {
    const response = await acme.request(`query($f: TwinListFilter) { acme { twins(filter: $f) { edges { node { id } } } } }`, {
      f: { kind: 'press', tags: [] },
    });
    expect(response.errors).toBeUndefined();
    expect(response.data.acme.twins.edges).toEqual([{ node: { id: 'acme:press-1' } }]);
  });

  it('gives no resolver traces to a caller that asks for them', async () => {
    // Apollo's federated tracing answers this header with every resolver's timings and errors (ftv1).
    const response = await fetch(acme.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.adminToken}`, 'apollo-federation-include-trace': 'ftv1' },
      body: JSON.stringify({ query: '{ acme { twins(first: 1) { edges { node { id } } } } }' }),
    });
    const answer = (await response.json()) as { data?: unknown; extensions?: Record<string, unknown> };
    expect(answer.data).toEqual({ acme: { twins: { edges: [{ node: { id: 'acme:press-1' } }] } } });
    expect(answer.extensions?.ftv1).toBeUndefined();
  });
});
