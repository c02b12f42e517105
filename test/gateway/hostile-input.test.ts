import { jetstreamManager } from '@nats-io/jetstream';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode } from '../../lib/errors.ts';
import { natsNames } from '../../lib/nats.ts';
import type { Gateway } from '../../gateway/server.ts';
import { codes, deeplyNestedBody, graphql, whileHealthChecked, type GraphQLResponse } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, endOfStream, subscribe, subscriptionsServed } from '../support/subscriptions.ts';

/**
 * Cheap requests that would cost the gateway seconds of work, or leave work behind, are refused
 * before that work, with a clear error, in milliseconds, while its health checks keep answering.
 */
const disposers = new Disposers();
let net: TestNetwork;
/** A gateway with small per-connection limits. */
let strict: Gateway;
/** A gateway allowing each caller 3 requests, then one per 100 s. */
let limited: Gateway;
let engineer: Record<string, string>;
let minute = 0;

const LIVE = `subscription { twinEvents { cursor } }`;
const RESUMING = `subscription($after: String) { twinEvents(after: $after) { cursor } }`;

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  const metrics = [{ name: 'temperature', unit: 'C', min: 0, max: 100 }];
  await net.orgs.globex!.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', metrics });
  await net.catalogHas(['globex:mill-1']);
  const grant = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { ids: ['globex:mill-1'] } });
  engineer = bearer(await net.orgs.acme!.memberToken('viewer', 'engineer'), [grant.token]);
  strict = await net.startGateway({ pollMs: 60_000, maxSubscriptionsPerConnection: 3, maxReplaysPerConnection: 2 });
  limited = await net.startGateway({ pollMs: 60_000, rateLimit: { perSecond: 0.01, burst: 3 } });
});
afterAll(() => disposers.dispose());

function client(url = net.gateway.url): Client {
  const c = connect(url, engineer);
  disposers.add(async () => c.dispose());
  return c;
}

async function ingest(value: number) {
  minute += 1;
  await net.orgs.globex!.ingest([{ twinId: 'globex:mill-1', metric: 'temperature', at: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(), value }]);
  await net.orgs.globex!.eventsPublished();
}

async function post(body: string, headers: Record<string, string> = {}): Promise<GraphQLResponse> {
  const response = await fetch(net.gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, ...((await response.json()) as object) };
}

/** Consumers of the network's event stream (the gateways' live feeds, resuming subscriptions). */
async function eventConsumers(): Promise<number> {
  const jsm = await jetstreamManager(net.nats);
  return (await jsm.streams.info(natsNames(net.subjectPrefix).eventsStream)).state.consumer_count;
}

describe('the gateway bounds the work of a request before doing it', () => {
  it('refuses 300,000 __typename aliases without a token, unparsed, while health checks answer', async () => {
    const query = `{ ${Array.from({ length: 300_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    const { result, ms, health } = await whileHealthChecked(net.gateway.url, () => post(JSON.stringify({ query })));
    expect(result.status).toBe(400);
    expect(result.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'tokens', limit: 10_000 }]);
    expect(ms).toBeLessThan(2000);
    expect(health).toMatchObject({ status: 200 });
    expect(health.ms).toBeLessThan(2000);
  });

  it('and so does the directory', async () => {
    const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
    // 40,000 aliases: 0.8 MB, within the directory's 1 MiB body limit.
    const { result, ms, health } = await whileHealthChecked(net.directory.url, () => graphql(net.directory.url, aliases(40_000, '__typename')));
    expect(result.status).toBe(400);
    expect(result.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'tokens', limit: 10_000 }]);
    expect(ms).toBeLessThan(2000);
    expect(health.ms).toBeLessThan(2000);
    // Cost is weighed once the caller is known (the directory refuses anonymous callers first).
    const costly = await graphql(net.directory.url, aliases(500, 'twins(first: 100) { edges { node { id } } }'), undefined, engineer);
    expect(costly.status).toBe(400);
    expect(costly.errors?.map((error) => error.extensions?.kind)).toEqual(['cost']);
  });

  it('counts introspection aliases in the cost', async () => {
    const query = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: __type(name: "Twin") { fields { name type { name kind } } }`).join(' ')} }`;
    const response = await post(JSON.stringify({ query }), engineer);
    expect(response.status).toBe(400);
    expect(codes(response)).toEqual([ErrorCode.QUERY_TOO_COMPLEX]);
  });

  it('refuses 7.6 MB of deeply nested JSON variables before parsing them, while health checks answer', async () => {
    const { result, ms, health } = await whileHealthChecked(net.gateway.url, () => post(deeplyNestedBody('query($v: String) { twin(id: $v) { id } }')));
    expect(result.status).toBe(400);
    expect(codes(result)).toEqual([ErrorCode.BAD_REQUEST]);
    expect(ms).toBeLessThan(2000);
    expect(health).toMatchObject({ status: 200 });
    expect(health.ms).toBeLessThan(2000);
  });

  it('prices an aggregate by the buckets it computes', async () => {
    const response = await net.query(
      `{ twin(id: "globex:mill-1") { aggregates(metric: "temperature", from: "2026-01-01T00:00:00Z", to: "2026-01-01T03:00:00Z", bucketSeconds: 1) { start avg } } }`,
      {},
      engineer,
    );
    expect(response.status).toBe(400);
    expect(response.errors?.map((error) => error.extensions)).toEqual([
      { code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'cost', limit: 20_000, actual: 1 + 1 + 10_800 * 2 },
    ]);
  });
});

describe('the gateway limits the rate of each caller', () => {
  const TWIN = `{ twin(id: "globex:mill-1") { name } }`;

  it('answers 429 RATE_LIMITED with Retry-After beyond a token’s burst, and keeps serving other callers', async () => {
    for (let i = 0; i < 3; i++) expect((await graphql(limited.url, TWIN, undefined, engineer)).data).toEqual({ twin: { name: 'Mill 1' } });
    const response = await fetch(limited.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...engineer },
      body: JSON.stringify({ query: TWIN }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBe(100);
    const body = (await response.json()) as GraphQLResponse;
    expect(body.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.RATE_LIMITED, retryAfterSeconds: 100 }]);
    // Subscribing is a request too.
    const sub = subscribe(client(limited.url), LIVE);
    expect(await sub.failed).toEqual([expect.objectContaining({ extensions: { code: ErrorCode.RATE_LIMITED, retryAfterSeconds: 100 } })]);
    // Another token of the same organization has a bucket of its own.
    const other = bearer(await net.orgs.globex!.memberToken('viewer', 'other'));
    expect((await graphql(limited.url, TWIN, undefined, other)).data).toEqual({ twin: { name: 'Mill 1' } });
  });

  it('limits the callers of one organization together to 20 callers’ worth: minting a token per request holds back no one else', async () => {
    const statuses: number[] = [];
    // 3 requests per caller here: 60 for all of acme's callers, some taken already.
    for (let i = 0; i < 61 && !statuses.includes(429); i++)
      statuses.push((await graphql(limited.url, '{ __typename }', undefined, bearer(await net.orgs.acme!.memberToken('viewer', `minted-${i}`)))).status);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.slice(0, -1).every((status) => status === 200)).toBe(true);
    expect((await graphql(limited.url, '{ __typename }', undefined, bearer(await net.orgs.globex!.memberToken('viewer', 'unminted')))).status).toBe(200);
  });

  it('limits anonymous callers by their address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await graphql(limited.url, '{ __typename }')).status);
    expect(statuses.slice(0, 3)).not.toContain(429);
    expect(statuses[3]).toBe(429);
  });
});

describe('the gateway bounds what a WebSocket connection may hold', () => {
  it('closes a connection whose connection_init is larger than the frame limit, before reading it', async () => {
    const before = await subscriptionsServed(net.gateway.url);
    const { result, ms, health } = await whileHealthChecked(
      net.gateway.url,
      () =>
        new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(net.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
          socket.once('error', reject);
          socket.once('open', () =>
            socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${'x'.repeat(8 * 1024 * 1024)}` } })),
          );
          socket.once('close', (code) => resolve(code));
        }),
    );
    // 1009: message too big (RFC 6455).
    expect(result).toBe(1009);
    expect(ms).toBeLessThan(2000);
    expect(health.ms).toBeLessThan(2000);
    expect(await subscriptionsServed(net.gateway.url)).toBe(before);
  });

  it('refuses a subscription beyond the per-connection limit, and takes one again once another ends', async () => {
    const c = client(strict.url);
    const subs = [subscribe(c, LIVE), subscribe(c, LIVE), subscribe(c, LIVE)];
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(3));
    const extra = subscribe(c, LIVE);
    expect(await extra.failed).toEqual([expect.objectContaining({ extensions: { code: ErrorCode.TOO_MANY_SUBSCRIPTIONS, kind: 'subscriptions', limit: 3 } })]);
    expect(await subscriptionsServed(strict.url)).toBe(3);
    await subs[0]!.close();
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(2));
    const again = subscribe(c, LIVE);
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(3));
    for (const sub of [...subs.slice(1), again]) await sub.close();
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(0));
  });

  it('refuses a resuming subscription beyond the per-connection limit, and still serves live ones', async () => {
    const c = client(strict.url);
    const after = await endOfStream(net);
    const resuming = [subscribe(c, RESUMING, { after }), subscribe(c, RESUMING, { after })];
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(2));
    const extra = subscribe(c, RESUMING, { after });
    expect((await extra.next()).errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.TOO_MANY_SUBSCRIPTIONS, kind: 'replays', limit: 2 }]);
    await extra.completed;
    const live = subscribe(c, LIVE);
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(3));
    await ingest(40);
    expect((await live.next()).errors).toBeUndefined();
    for (const sub of [...resuming, live]) await sub.close();
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(0));
  });

  it('holds no consumer for resuming subscriptions once they have caught up, nor once their connection closes', async () => {
    const baseline = await eventConsumers();
    const c = connect(net.gateway.url, engineer);
    const after = await endOfStream(net);
    for (let i = 0; i < 10; i++) subscribe(c, RESUMING, { after });
    await eventually(async () => expect(await subscriptionsServed(net.gateway.url)).toBe(10));
    expect(await eventConsumers()).toBe(baseline);
    await c.dispose();
    await eventually(async () => expect(await subscriptionsServed(net.gateway.url)).toBe(0));
    expect(await eventConsumers()).toBe(baseline);
  });

  it('refuses a subscription costlier than the query limits allow', async () => {
    const twins = Array.from({ length: 50 }, (_, i) => `t${i}: twin { telemetry(metric: "temperature", first: 500) { edges { node { value } } } }`).join(' ');
    const sub = subscribe(client(), `subscription { twinEvents { ${twins} } }`);
    expect(await sub.failed).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'cost' }) })]);
  });

  it('fetches the twin of an event once for all the aliases of one selection', async () => {
    const reads = async () =>
      (
        await net.orgs.globex!.request(`{ globex { auditEvents(filter: { partner: "acme" }, first: 500) { edges { node { action } } } } }`)
      ).data.globex.auditEvents.edges.filter((edge: { node: { action: string } }) => edge.node.action === 'read').length;
    const before = await reads();
    const twins = Array.from({ length: 100 }, (_, i) => `t${i}: twin { name }`).join(' ');
    const sub = subscribe(client(), `subscription($after: String) { twinEvents(after: $after) { twinId ${twins} k: twin { kind } } }`, {
      after: await endOfStream(net),
    });
    await ingest(41);
    const event = await sub.next();
    expect(event.errors).toBeUndefined();
    expect(Object.keys(event.data.twinEvents)).toHaveLength(102);
    for (let i = 0; i < 100; i++) expect(event.data.twinEvents[`t${i}`]).toEqual({ name: 'Mill 1' });
    expect(event.data.twinEvents.k).toEqual({ kind: 'mill' });
    // One request reached the twin's organization for the whole event, every selection in it.
    expect(await reads()).toBe(before + 1);
    await sub.close();
  });

  it('refuses a subscription with more different twin selections than the limit', async () => {
    const twins = Array.from({ length: 6 }, (_, i) => `t${i}: twin { n${i}: name }`).join(' ');
    const sub = subscribe(client(), `subscription { twinEvents { ${twins} } }`);
    expect(await sub.failed).toEqual([expect.objectContaining({ extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'twins', limit: 5, actual: 6 } })]);
  });
});
