import { createServer } from 'node:http';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeCursor } from '../../lib/cursor.ts';
import { listen } from '../../lib/http.ts';
import { codes, graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers } from '../support/services.ts';
import { connect, endOfStream, subscribe } from '../support/subscriptions.ts';

const disposers = new Disposers();
let net: TestNetwork;
/** An acme admin holding a globex grant (reading its mills and their telemetry). */
let admin: Record<string, string>;
/** An acme viewer. */
let viewer: Record<string, string>;

/** ISO 8601 in UTC with milliseconds: how every DateTime is served. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  await net.orgs.acme!.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics: [{ name: 'temperature', unit: 'C' }] });
  await net.orgs.globex!.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', metrics: [{ name: 'speed', unit: 'rpm' }] });
  await net.orgs.acme!.eventsPublished();
  await net.orgs.globex!.eventsPublished();
  await net.catalogHas(['acme:press-1', 'globex:mill-1']);
  const grant = await net.orgs.globex!.grantToken({
    partner: 'acme',
    scopes: ['twins:read', 'telemetry:read', 'twins:subscribe'],
    selector: { kinds: ['mill'] },
  });
  admin = bearer(net.orgs.acme!.adminToken, [grant.token]);
  viewer = bearer(await net.orgs.acme!.memberToken('viewer'));
});
afterAll(() => disposers.dispose());

const CREATE = `mutation($input: TwinInput!) { acme { createTwin(input: $input) { id } } }`;

describe('errors through the gateway', () => {
  it('gives an organization’s errors with their code, message and path', async () => {
    const forbidden = await net.query(CREATE, { input: { id: 'acme:press-2', name: 'Press 2', kind: 'press' } }, viewer);
    expect(forbidden.errors).toEqual([
      {
        message: 'This operation needs the twins:write scope.',
        path: ['acme', 'createTwin'],
        extensions: { code: 'FORBIDDEN', scope: 'twins:write', subgraph: 'acme' },
      },
    ]);
    const invalid = await net.query(CREATE, { input: { id: 'acme:bad id', name: 'Bad', kind: 'press' } }, admin);
    expect(invalid.errors?.[0]).toMatchObject({ path: ['acme', 'createTwin'], extensions: { code: 'INVALID_INPUT', field: 'input.id' } });
    const exists = await net.query(CREATE, { input: { id: 'acme:press-1', name: 'Again', kind: 'press' } }, admin);
    expect(exists.errors?.[0]).toMatchObject({
      message: 'Twin acme:press-1 already exists.',
      path: ['acme', 'createTwin'],
      extensions: { code: 'ALREADY_EXISTS' },
    });
    const metric = await net.query(`{ twin(id: "globex:mill-1") { name telemetry(metric: "nope") { edges { cursor } } } }`, undefined, admin);
    expect(metric.data).toEqual({ twin: { name: 'Mill 1', telemetry: null } });
    expect(metric.errors?.[0]).toMatchObject({ path: ['twin', 'telemetry'], extensions: { code: 'UNKNOWN_METRIC', subgraph: 'globex' } });
    // An organization's 400 (its own scalar refused a variable): its error, not "unavailable".
    const refused = await net.query(
      `query($from: DateTime) { twin(id: "globex:mill-1") { telemetry(metric: "speed", from: $from) { edges { cursor } } } }`,
      { from: '2026-02-30T10:00:00Z' },
      admin,
    );
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors?.[0]).toMatchObject({ path: ['twin'], extensions: { code: 'INVALID_INPUT', subgraph: 'globex' } });
    for (const response of [forbidden, invalid, exists, metric, refused]) expect(JSON.stringify(response)).not.toMatch(/serviceName|stacktrace|127\.0\.0\.1/);
  });

  it('refuses a request without any token with 401 MISSING, at the gateway, the directory and the organizations', async () => {
    for (const url of [net.gateway.url, net.directory.url, net.orgs.acme!.url]) {
      const query = '{ acme { twins(first: 1) { edges { cursor } } } }';
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { errors: { extensions: unknown }[] }).errors[0]!.extensions).toEqual({ code: 'UNAUTHENTICATED', reason: 'MISSING' });
    }
  });

  it('names the argument of a cursor that is not one, or out of range', async () => {
    const cases: [string, Record<string, unknown>][] = [
      [`query($after: String) { twins(first: 1, after: $after) { edges { cursor } } }`, { after: 'not-a-cursor' }],
      [`query($after: String) { acme { twins(first: 1, after: $after) { edges { cursor } } } }`, { after: encodeCursor('twin', 'press\u0000') }],
      [
        `query($after: String) { acme { auditEvents(first: 1, after: $after) { edges { cursor } } } }`,
        { after: encodeCursor('audit', '99999999999999999999') },
      ],
      [
        `query($after: String) { twin(id: "globex:mill-1") { telemetry(metric: "speed", after: $after) { edges { cursor } } } }`,
        { after: encodeCursor('reading', '-1') },
      ],
    ];
    for (const [query, variables] of cases) {
      const response = await net.query(query, variables, admin);
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'after' });
    }
    const client = connect(net.gateway.url, admin);
    disposers.add(async () => client.dispose());
    const sub = subscribe(client, `subscription($after: String) { twinEvents(after: $after) { cursor } }`, { after: 'not-a-cursor' });
    expect((await sub.next()).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'after' });
  });

  it('refuses NUL characters in any text argument, naming it, and stores nothing', async () => {
    const query = `query($text: String) { twins(first: 5, filter: { text: $text }) { edges { cursor } } }`;
    // The same document first with clean variables, so that it is known (and its literals checked) before.
    expect((await net.query(query, { text: 'press' }, admin)).status).toBe(200);
    const filter = await net.query(query, { text: 'press\u0000' }, admin);
    expect(filter.status).toBe(400);
    expect(filter.errors?.[0]?.extensions).toEqual({ code: 'INVALID_INPUT', field: 'filter.text' });
    // At an organization's own endpoint: a literal, and a key deep in a JSON value.
    const literal = await net.orgs.acme!.request(`mutation { acme { createTwin(input: { id: "acme:nul-1", name: "a\\u0000b", kind: "press" }) { id } } }`);
    expect(literal.errors?.[0]?.extensions).toEqual({ code: 'INVALID_INPUT', field: 'input.name' });
    // The document known before (refused for another reason), then a NUL in a key deep in its variables.
    expect(codes(await net.orgs.acme!.request(CREATE, { input: { id: 'acme:bad id', name: 'N', kind: 'press' } }))).toEqual(['INVALID_INPUT']);
    const json = await net.orgs.acme!.request(CREATE, { input: { id: 'acme:nul-2', name: 'N', kind: 'press', attributes: { a: [{ 'b\u0000': 1 }] } } });
    expect(json.errors?.[0]?.extensions).toEqual({ code: 'INVALID_INPUT', field: 'input.attributes.a.0' });
    // A variable's default value, named by the variable.
    const fallback = await net.orgs.acme!.request(
      `mutation($name: String! = "a\\u0000b") { acme { createTwin(input: { id: "acme:nul-3", name: $name, kind: "press" }) { id } } }`,
    );
    expect(fallback.errors?.[0]?.extensions).toEqual({ code: 'INVALID_INPUT', field: '$name' });
    expect(await net.orgs.acme!.db.twin.count({ where: { id: { startsWith: 'nul-' } } })).toBe(0);
  });

  it('refuses dates the calendar does not have', async () => {
    const ingest = await net.orgs.acme!.request(`mutation($r: [ReadingInput!]!) { acme { ingestTelemetry(readings: $r) { accepted } } }`, {
      r: [{ twinId: 'acme:press-1', metric: 'temperature', at: '2026-02-30T10:00:00Z', value: 1 }],
    });
    expect(codes(ingest)).toEqual(['INVALID_INPUT']);
    const literal = await net.query(
      `{ twin(id: "acme:press-1") { telemetry(metric: "temperature", from: "2026-02-30T10:00:00Z") { edges { cursor } } } }`,
      undefined,
      admin,
    );
    expect(codes(literal)).toEqual(['INVALID_INPUT']);
    expect(await net.orgs.acme!.db.reading.count()).toBe(0);
  });

  it('serves DateTime in one format over HTTP and in subscriptions', async () => {
    const client: Client = connect(net.gateway.url, admin);
    disposers.add(async () => client.dispose());
    const sub = subscribe(
      client,
      `subscription($after: String) { twinEvents(filter: { twinIds: ["acme:press-1"] }, after: $after) { at state { updatedAt metrics { at } } } }`,
      {
        after: await endOfStream(net),
      },
    );
    await net.orgs.acme!.ingest([{ twinId: 'acme:press-1', metric: 'temperature', at: '2026-01-31T12:00:00+02:00', value: 20 }]);
    await net.orgs.acme!.eventsPublished();
    const event = (await sub.next()).data.twinEvents;
    expect(event.state.metrics[0].at).toBe('2026-01-31T10:00:00.000Z');
    for (const value of [event.at, event.state.updatedAt]) expect(value).toMatch(ISO_UTC);
    const http = await net.query(`{ twin(id: "acme:press-1") { state { updatedAt metrics { at } } } }`, undefined, admin);
    expect(http.data.twin.state).toEqual({ updatedAt: event.state.updatedAt, metrics: [{ at: '2026-01-31T10:00:00.000Z' }] });
    await sub.close();
  });

  it('says once, where its part is, that an organization is unavailable', async () => {
    // Two fetches from one organization in one request, at two places.
    const query = `{ twin(id: "globex:mill-1") { name } globex { twins(first: 1) { edges { cursor } } } }`;
    expect((await net.query(query, undefined, admin)).errors).toBeUndefined();
    await net.orgs.globex!.stop();
    const response = await net.query(query, undefined, admin);
    expect(response.errors).toHaveLength(1);
    expect(response.errors?.[0]).toMatchObject({
      message: 'globex is unavailable: cannot be reached.',
      extensions: { code: 'UNAVAILABLE', subgraph: 'globex' },
    });
    expect([['twin'], ['globex']]).toContainEqual(response.errors?.[0]?.path);
    // The network's list still answers: the twins of the organization up in full, those of the one
    // down by their ids, with nulls for what only it knows (their suppliers among them).
    const list = await net.query<{ twins: { edges: { node: { id: string; name: string | null; suppliedBy: unknown } }[] } }>(
      `{ twins(first: 10) { edges { node { id name suppliedBy { id } } } } }`,
      undefined,
      admin,
    );
    expect(list.data?.twins.edges.map(({ node }) => node).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'acme:press-1', name: 'Press 1', suppliedBy: [] },
      { id: 'globex:mill-1', name: null, suppliedBy: null },
    ]);
    expect(list.errors?.map((error) => error.extensions?.code)).toContain('UNAVAILABLE');
  });
});

/**
 * A member that says what it likes in its errors: a proxy in front of a real organization that
 * adds errors to every GraphQL answer but its SDL, or never gives it: `'no answer'` at all,
 * `'drip'` a space every 20 ms without end, `'flood'` a 40 MiB answer.
 */
async function rogueMember(memberUrl: string, inject: (query: string) => unknown[] | 'no answer' | 'drip' | 'flood'): Promise<string> {
  const target = new URL(memberUrl);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const query = req.method === 'POST' ? (JSON.parse(body) as { query: string }).query : '';
      const added = query === '' || query.includes('_service') ? [] : inject(query);
      if (added === 'no answer') return;
      if (added === 'drip') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const drip = setInterval(() => res.write(' '), 20);
        res.on('close', () => clearInterval(drip));
        return;
      }
      if (added === 'flood') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { sloth: { padding: 'x'.repeat(40 * 1024 * 1024) } } }));
        return;
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const name of ['authorization', 'twin-grants']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
      const answer = await fetch(new URL(req.url!, target), { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
      const json = (await answer.json()) as { errors?: unknown[] };
      if (added.length > 0) json.errors = [...(json.errors ?? []), ...added];
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    });
  });
  disposers.add(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return listen(server, 0, '127.0.0.1');
}

describe('errors of a member that turned hostile', () => {
  it('keeps its errors on its own part of the answer, in the catalogue’s codes, without its internals', async () => {
    const umbrella = await net.startOrg('umbrella');
    await umbrella.createTwin({ id: 'umbrella:lab-1', name: 'Lab 1', kind: 'lab' });
    await umbrella.eventsPublished();
    const url = await rogueMember(umbrella.url, (query) =>
      query.includes('_entities')
        ? [
            // About "its" first entity: the list's first item is acme's twin.
            { message: 'Press 1 is on fire.', path: ['_entities', 0, 'name'], extensions: { code: 'UNAVAILABLE', subgraph: 'acme' } },
            // Blaming another organization for a grant "revoked": it may speak of its own tokens only.
            {
              message: 'Your grant was revoked.',
              path: ['_entities', 0, 'name'],
              extensions: { code: 'UNAUTHENTICATED', reason: 'REVOKED', org: 'acme', tokenKind: 'grant' },
            },
            {
              message: 'at Pool.query (db.js:1) 10.0.0.7:5432',
              path: ['twins', 0],
              extensions: { code: 'FOREIGN_ID', response: { url: 'http://10.0.0.7/' }, stacktrace: ['at x'] },
            },
          ]
        : [{ message: 'acme has no twins.', path: ['twins'], extensions: { code: 'NOT_OURS' } }],
    );
    await net.join({ org: 'umbrella', url });
    const partner = bearer(await umbrella.memberToken('viewer'), [
      (await net.orgs.acme!.grantToken({ partner: 'umbrella', scopes: ['twins:read'], selector: { ids: ['acme:press-1'] } })).token,
    ]);
    const list = `{ twins(first: 5) { edges { node { id name } } } }`;
    await vi.waitFor(
      async () =>
        expect((await net.query(list, undefined, partner)).data?.twins.edges.map((edge: any) => edge.node.id)).toEqual(['acme:press-1', 'umbrella:lab-1']),
      { timeout: 10_000, interval: 50 },
    );
    const entities = await net.query(list, undefined, partner);
    expect(entities.data.twins.edges).toEqual([{ node: { id: 'acme:press-1', name: 'Press 1' } }, { node: { id: 'umbrella:lab-1', name: 'Lab 1' } }]);
    expect(entities.errors).toEqual([
      { message: 'Press 1 is on fire.', path: ['twins', 'edges'], extensions: { code: 'UNAVAILABLE', subgraph: 'umbrella' } },
      { message: 'Your grant was revoked.', path: ['twins', 'edges'], extensions: { code: 'UNAUTHENTICATED', reason: 'REVOKED', subgraph: 'umbrella' } },
      { message: 'umbrella could not answer.', path: ['twins', 'edges'], extensions: { code: 'INTERNAL', subgraph: 'umbrella' } },
    ]);
    const root = await net.query(`{ twins(first: 1) { edges { cursor } } umbrella { twins(first: 1) { edges { cursor } } } }`, undefined, partner);
    expect(root.errors).toEqual([{ message: 'umbrella could not answer.', path: ['umbrella'], extensions: { code: 'INTERNAL', subgraph: 'umbrella' } }]);
  });
  // The flood is given time to pass 32 MiB before the gateway stops waiting, however slow the machine.
  it.each([
    ['does not answer', 'sloth', 'no answer', 200, 'no answer in time'],
    ['drips its answer without end', 'drip', 'drip', 200, 'no answer in time'],
    ['floods the gateway with its answer', 'flood', 'flood', 60_000, 'its answer was larger than 32 MiB'],
  ] as const)('says a member that %s is unavailable, once, at its part', async (_, slug, behaviour, subgraphTimeoutMs, reason) => {
    const member = await net.startOrg(slug);
    await net.join({ org: slug, url: await rogueMember(member.url, () => behaviour) });
    const gateway = await net.startGateway({ subgraphTimeoutMs });
    const headers = bearer(await member.memberToken('viewer'));
    const query = `{ ${slug} { twins(first: 1) { edges { cursor } } } }`;
    await vi.waitFor(async () => expect(codes(await graphql(gateway.url, query, undefined, headers))).toEqual(['UNAVAILABLE']), {
      timeout: 10_000,
      interval: 50,
    });
    expect((await graphql(gateway.url, query, undefined, headers)).errors).toEqual([
      { message: `${slug} is unavailable: ${reason}.`, path: [slug], extensions: { code: 'UNAVAILABLE', subgraph: slug } },
    ]);
  });
});
