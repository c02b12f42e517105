import { jetstreamManager } from '@nats-io/jetstream';
import type { Client } from 'graphql-ws';
import { buildClientSchema, getIntrospectionQuery, type GraphQLObjectType, type IntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../lib/cursor.ts';
import { natsNames } from '../../lib/nats.ts';
import { codes, graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers } from '../support/services.ts';
import { connect, endOfStream, subscribe } from '../support/subscriptions.ts';

const disposers = new Disposers();
let net: TestNetwork;
let engineer: Record<string, string>;
let globexGrant: string;
let minute = 0;

const EVENTS = `subscription($filter: TwinEventFilter, $after: String) {
  twinEvents(filter: $filter, after: $after) { cursor type twinId org state { status metrics { metric value } } } }`;

async function ingest(org: string, twinId: string, value: number) {
  minute += 1;
  const at = new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
  await net.orgs[org]!.ingest([{ twinId, metric: 'temperature', at, value }]);
  await net.orgs[org]!.eventsPublished();
}

function client(headers: Record<string, string>, url = net.gateway.url): Client {
  const c = connect(url, headers);
  disposers.add(async () => c.dispose());
  return c;
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  const metric = [{ name: 'temperature', unit: 'C', min: 0, max: 100 }];
  for (const [org, id, kind, suppliedByIds] of [
    ['acme', 'acme:press-1', 'press', ['globex:mill-1', 'globex:mill-2']],
    ['globex', 'globex:mill-1', 'mill', []],
    ['globex', 'globex:mill-2', 'mill', []],
  ] as const) {
    await net.orgs[org]!.createTwin({ id, name: id.toUpperCase(), kind, metrics: metric, suppliedByIds });
  }
  await net.catalogHas(['acme:press-1', 'globex:mill-1', 'globex:mill-2']);
  const grant = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { ids: ['globex:mill-1'] } });
  globexGrant = grant.jti;
  engineer = bearer(await net.orgs.acme!.memberToken('viewer', 'engineer'), [grant.token]);
});
afterAll(() => disposers.dispose());

describe('live twin events through the gateway', () => {
  it('delivers a supplier twin’s state changes across organizations, resolving the twin through the network graph', async () => {
    const sub = subscribe(
      client(engineer),
      `subscription($after: String) { twinEvents(filter: { orgs: ["globex"] }, after: $after) { type twinId state { status } twin { name ... on GlobexTwin { listed } } } }`,
      { after: await endOfStream(net) },
    );
    await ingest('globex', 'globex:mill-1', 50);
    const event = await sub.next();
    expect(event.errors).toBeUndefined();
    expect(event.data.twinEvents).toEqual({ type: 'STATE', twinId: 'globex:mill-1', state: { status: 'OK' }, twin: { name: 'GLOBEX:MILL-1', listed: true } });
    await sub.close();
  });

  it('resolves twin { … } with the operation’s fragments and variables', async () => {
    const sub = subscribe(
      client(engineer),
      `subscription($after: String, $metric: String!) { twinEvents(filter: { twinIds: ["acme:press-1"] }, after: $after) { ...Event } }
       fragment Event on TwinEvent { type twin { ...Named telemetry(metric: $metric, first: 1) { edges { node { value } } } } }
       fragment Named on Twin { name }`,
      { after: await endOfStream(net), metric: 'temperature' },
    );
    await ingest('acme', 'acme:press-1', 15);
    const event = await sub.next();
    expect(event.errors).toBeUndefined();
    expect(event.data.twinEvents).toEqual({ type: 'STATE', twin: { name: 'ACME:PRESS-1', telemetry: { edges: [{ node: { value: 15 } }] } } });
    await sub.close();
  });

  it('resolves twins at any depth from selections without __typename, as clients write them', async () => {
    const sub = subscribe(
      client(engineer),
      `subscription($after: String) { twinEvents(filter: { twinIds: ["acme:press-1"] }, after: $after) {
         twin { name suppliedBy { id ...Named } } } }
       fragment Named on Twin { name suppliedBy { id } }`,
      { after: await endOfStream(net) },
    );
    await ingest('acme', 'acme:press-1', 16);
    const event = await sub.next();
    expect(event.errors).toBeUndefined();
    // globex:mill-2 is not granted: it behaves as if it did not exist.
    expect(event.data.twinEvents.twin).toEqual({ name: 'ACME:PRESS-1', suppliedBy: [{ id: 'globex:mill-1', name: 'GLOBEX:MILL-1', suppliedBy: [] }] });
    await sub.close();
  });

  it('reads tokens from connection parameters whatever the case of their names, as HTTP reads headers', async () => {
    const [token, grants] = [engineer.authorization!, engineer['twin-grants']!];
    const sub = subscribe(client({ Authorization: token, 'Twin-Grants': grants }), EVENTS, { after: await endOfStream(net), filter: { orgs: ['globex'] } });
    await ingest('globex', 'globex:mill-1', 17);
    const event = await sub.next();
    expect(event.errors).toBeUndefined();
    expect(event.data.twinEvents.twinId).toBe('globex:mill-1');
    await sub.close();
    // The same header twice is ambiguous, a token that is not a string malformed: refused.
    for (const params of [{ Authorization: token, authorization: token }, { Authorization: 42 }, { 'Twin-Grants': { token: grants } }]) {
      const refused = subscribe(client(params as unknown as Record<string, string>), EVENTS, {});
      expect(await refused.failed).toMatchObject({ code: 4403 });
    }
  });

  it('shows the subscriptions in the gateway’s introspection, and sends subscriptions over HTTP to the WebSocket', async () => {
    const introspection = await net.query(getIntrospectionQuery(), undefined, engineer);
    expect(introspection.errors).toBeUndefined();
    const schema = buildClientSchema(introspection.data as unknown as IntrospectionQuery);
    const twinEvents = schema.getSubscriptionType()?.getFields().twinEvents;
    expect(twinEvents?.args.map((arg) => `${arg.name}: ${String(arg.type)}`)).toEqual(['filter: TwinEventFilter', 'after: String']);
    expect(String(twinEvents?.type)).toBe('TwinEvent!');
    expect(String((schema.getType('TwinEvent') as GraphQLObjectType).getFields().twin!.type)).toBe('Twin');
    // Introspection next to a query of the network graph.
    const mixed = await net.query(`{ __typename twin(id: "globex:mill-1") { name } __schema { subscriptionType { name } } }`, undefined, engineer);
    expect(mixed.data).toEqual({ __typename: 'Query', twin: { name: 'GLOBEX:MILL-1' }, __schema: { subscriptionType: { name: 'Subscription' } } });
    const overHttp = await net.query(`subscription { twinEvents { cursor } }`, undefined, engineer);
    expect(overHttp.status).toBe(400);
    expect(codes(overHttp)).toEqual(['BAD_REQUEST']);
  });

  it('sends only events of twins the subscriber may see, that pass its filter', async () => {
    const sub = subscribe(client(engineer), EVENTS, { after: await endOfStream(net), filter: { types: ['STATE', 'ALERT'] } });
    await ingest('globex', 'globex:mill-2', 10); // not granted
    await ingest('acme', 'acme:press-1', 20); // own
    await ingest('globex', 'globex:mill-1', 150); // granted: STATE then ALERT
    const received = [await sub.next(), await sub.next(), await sub.next()].map((r) => `${r.data.twinEvents.twinId} ${r.data.twinEvents.type}`);
    expect(received).toEqual(['acme:press-1 STATE', 'globex:mill-1 STATE', 'globex:mill-1 ALERT']);
    await sub.close();
  });

  it('resumes exactly after a cursor: no gap, no duplicate, on this gateway or another one', async () => {
    // Its states only: the readings also clear the range alarm an earlier test raised.
    const filter = { twinIds: ['acme:press-1'], types: ['STATE'] };
    const first = subscribe(client(engineer), EVENTS, { after: await endOfStream(net), filter });
    await ingest('acme', 'acme:press-1', 30);
    const seen = await first.next();
    await first.close();
    // While nobody listens:
    await ingest('acme', 'acme:press-1', 31);
    await ingest('acme', 'acme:press-1', 32);
    const other = await net.startGateway();
    const resumed = subscribe(client(engineer, other.url), EVENTS, { after: seen.data.twinEvents.cursor, filter });
    const values = [await resumed.next(), await resumed.next()].map((r) => r.data.twinEvents.state.metrics[0].value);
    expect(values).toEqual([31, 32]);
    await ingest('acme', 'acme:press-1', 33);
    expect((await resumed.next()).data.twinEvents.state.metrics[0].value).toBe(33);
    await resumed.close();
  });

  it('serves the same events with the same cursors from two gateways', async () => {
    const other = await net.startGateway();
    const after = await endOfStream(net);
    const a = subscribe(client(engineer), EVENTS, { after });
    const b = subscribe(client(engineer, other.url), EVENTS, { after });
    await ingest('acme', 'acme:press-1', 40);
    const [fromA, fromB] = [await a.next(), await b.next()];
    expect(fromA.data.twinEvents).toEqual(fromB.data.twinEvents);
    await a.close();
    await b.close();
  });

  it('ends the subscriptions of a revoked grant with a clear error, on every gateway', async () => {
    const other = await net.startGateway();
    const after = await endOfStream(net);
    const subs = [
      subscribe(client(engineer), EVENTS, { after, filter: { orgs: ['globex'] } }),
      subscribe(client(engineer, other.url), EVENTS, { after, filter: { orgs: ['globex'] } }),
    ];
    await ingest('globex', 'globex:mill-1', 60);
    for (const sub of subs) expect((await sub.next()).data.twinEvents.twinId).toBe('globex:mill-1');
    const revoked = await net.orgs.globex!.request(`mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { active } } }`, { jti: globexGrant });
    expect(revoked.data.globex.revokeGrant.active).toBe(false);
    await net.orgs.globex!.eventsPublished();
    // Naming the grant's issuer: the subscriber learns whose grant to ask for again.
    for (const sub of subs) {
      expect((await sub.next()).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED', org: 'globex', tokenKind: 'grant' });
      await sub.completed;
    }
    // And a new subscription with that grant is refused at once.
    const again = subscribe(client(engineer), EVENTS, {});
    expect((await again.next()).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED', org: 'globex', tokenKind: 'grant' });
    await again.completed;
  });

  it('ends the subscriptions of a revoked member token too, and refuses its requests', async () => {
    const issued = await net.orgs.acme!.request(
      `mutation($at: DateTime!) { acme { issueMemberToken(input: { subject: "svc:wallboard", role: "viewer", expiresAt: $at }) { token jti } } }`,
      { at: new Date(Date.now() + 3_600_000).toISOString() },
    );
    const { token, jti } = issued.data.acme.issueMemberToken;
    const sub = subscribe(client(bearer(token)), EVENTS, { after: await endOfStream(net) });
    await ingest('acme', 'acme:press-1', 61);
    expect((await sub.next()).data.twinEvents.twinId).toBe('acme:press-1');
    const revoked = await net.orgs.acme!.request(`mutation($jti: ID!) { acme { revokeMemberToken(jti: $jti) } }`, { jti });
    expect(revoked.errors).toBeUndefined();
    await net.orgs.acme!.eventsPublished();
    expect((await sub.next()).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED', org: 'acme', tokenKind: 'member' });
    await sub.completed;
    // Over HTTP too, where the directory would answer an empty network: refused, saying why.
    const refused = await graphql(net.gateway.url, '{ twins(first: 5) { edges { node { id } } } }', {}, bearer(token));
    expect(refused.status).toBe(401);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED', org: 'acme', tokenKind: 'member' });
  });

  it('ends a subscription when the grant it rests on expires', async () => {
    const grant = await net.orgs.globex!.grantToken({
      partner: 'acme',
      scopes: ['twins:subscribe'],
      selector: { ids: ['globex:mill-1'] },
      expiresAt: new Date(Date.now() + 1500),
    });
    const sub = subscribe(client(bearer(grant.token)), EVENTS, { after: await endOfStream(net) });
    const ended = await sub.next();
    expect(ended.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'EXPIRED', org: 'globex', tokenKind: 'grant' });
    await sub.completed;
  });

  it('keeps a subscription on a long-lived grant open (beyond what one timer can wait)', async () => {
    const grant = await net.orgs.globex!.grantToken({
      partner: 'acme',
      scopes: ['twins:subscribe'],
      selector: { ids: ['globex:mill-1'] },
      expiresAt: new Date(Date.now() + 90 * 86_400_000),
    });
    const sub = subscribe(client(bearer(grant.token)), EVENTS, { after: await endOfStream(net) });
    await ingest('globex', 'globex:mill-1', 42);
    const event = await sub.next();
    expect(event.errors).toBeUndefined();
    expect(event.data.twinEvents).toMatchObject({ twinId: 'globex:mill-1', state: { metrics: [{ metric: 'temperature', value: 42 }] } });
    await sub.close();
  });

  it('refuses subscribers without twins:subscribe, bad tokens, and cursors older than the stream', async () => {
    const scoped = await net.orgs.acme!.request(
      `mutation($at: DateTime!) { acme { issueMemberToken(input: { subject: "svc", scopes: ["twins:read"], expiresAt: $at }) { token } } }`,
      { at: new Date(Date.now() + 3_600_000).toISOString() },
    );
    const forbidden = subscribe(client(bearer(scoped.data.acme.issueMemberToken.token)), EVENTS, {});
    expect((await forbidden.next()).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });

    const badClient = connect(net.gateway.url, { authorization: 'Bearer garbage' });
    const bad = subscribe(badClient, EVENTS, {});
    expect(await bad.failed).toMatchObject({ code: 4403 });

    const jsm = await jetstreamManager(net.nats);
    const stream = natsNames(net.subjectPrefix).eventsStream;
    await ingest('acme', 'acme:press-1', 70);
    const { last_seq } = (await jsm.streams.info(stream)).state;
    await jsm.streams.purge(stream, { seq: last_seq });
    const viewer = bearer(await net.orgs.acme!.memberToken('viewer', 'late-reader'));
    const expired = subscribe(client(viewer), EVENTS, { after: encodeCursor('event', '1') });
    expect((await expired.next()).errors?.[0]?.extensions).toMatchObject({ code: 'CURSOR_EXPIRED' });
  });
});
