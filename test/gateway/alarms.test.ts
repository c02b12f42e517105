// A supplier's alarms on a customer's dashboard, through the gateway: live (graphql-ws) and as
// twin fields, only for twins its grants select and only with analytics:read on them.
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers } from '../support/services.ts';
import { connect, endOfStream, subscribe } from '../support/subscriptions.ts';

const disposers = new Disposers();
let net: TestNetwork;
/** acme's dashboards, each with its acme member token and one grant of globex's. */
let withAnalytics: Record<string, string>;
let withoutAnalytics: Record<string, string>;
let otherTwin: Record<string, string>;
let minute = 0;

const EVENTS = `subscription($after: String) {
  twinEvents(filter: { orgs: ["globex"] }, after: $after) { type twinId alarmChange alarm { twinId cause state severity explanation } } }`;
const ALARMS = `query($id: ID!) { twin(id: $id) { id name alarms { edges { node { cause state explanation } } } } }`;

async function ingest(twinId: string, value: number) {
  minute += 1;
  await net.orgs.globex!.ingest([{ twinId, metric: 'temperature', at: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(), value }]);
  await net.orgs.globex!.eventsPublished();
}

function client(headers: Record<string, string>): Client {
  const c = connect(net.gateway.url, headers);
  disposers.add(async () => c.dispose());
  return c;
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  const metrics = [{ name: 'temperature', unit: 'C', min: 0, max: 100 }];
  await net.orgs.acme!.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics });
  for (const id of ['globex:mill-1', 'globex:mill-2']) await net.orgs.globex!.createTwin({ id, name: id, kind: 'mill', metrics });
  await net.catalogHas(['acme:press-1', 'globex:mill-1', 'globex:mill-2']);
  const member = await net.orgs.acme!.memberToken('viewer', 'dashboard');
  const dashboard = async (scopes: string[], id: string) =>
    bearer(member, [(await net.orgs.globex!.grantToken({ partner: 'acme', scopes, selector: { ids: [id] } })).token]);
  withAnalytics = await dashboard(['twins:read', 'twins:subscribe', 'analytics:read'], 'globex:mill-1');
  withoutAnalytics = await dashboard(['twins:read', 'twins:subscribe'], 'globex:mill-1');
  otherTwin = await dashboard(['twins:read', 'twins:subscribe', 'analytics:read'], 'globex:mill-2');
});
afterAll(() => disposers.dispose());

describe("a supplier's alarms through the gateway", () => {
  it('reach a partner live only for the twins its grants select, and only with analytics:read', async () => {
    const after = await endOfStream(net);
    const full = subscribe(client(withAnalytics), EVENTS, { after });
    const noScope = subscribe(client(withoutAnalytics), EVENTS, { after });
    const other = subscribe(client(otherTwin), EVENTS, { after });
    await ingest('globex:mill-1', 150);
    await ingest('globex:mill-1', 160);
    await ingest('globex:mill-2', 10);

    const take = async (sub: ReturnType<typeof subscribe>, count: number) => {
      const received = [];
      for (let i = 0; i < count; i++) {
        const event = await sub.next();
        expect(event.errors).toBeUndefined();
        received.push(event.data.twinEvents);
      }
      return received;
    };
    const seen = await take(full, 4);
    expect(seen.map((event) => `${event.twinId} ${event.type}`)).toEqual([
      'globex:mill-1 STATE',
      'globex:mill-1 ALERT',
      'globex:mill-1 ALARM',
      'globex:mill-1 STATE',
    ]);
    expect(seen[2]).toMatchObject({
      alarmChange: 'RAISED',
      alarm: { twinId: 'globex:mill-1', cause: 'range:temperature', state: 'ACTIVE_UNACKNOWLEDGED', severity: 'HIGH', explanation: { value: 150, limit: 100 } },
    });
    expect(seen[0].alarm).toBeNull();
    // Events come in stream order: the STATE right after the ALERT shows the ALARM between them was withheld.
    expect((await take(noScope, 3)).map((event) => event.type)).toEqual(['STATE', 'ALERT', 'STATE']);
    // The first event a partner reaching only mill-2 sees is mill-2's: nothing of mill-1, its alarm included.
    expect((await take(other, 1)).map((event) => `${event.twinId} ${event.type}`)).toEqual(['globex:mill-2 STATE']);
    await Promise.all([full.close(), noScope.close(), other.close()]);
  });

  it("serve a twin's alarms as a field with analytics:read, and refuse it without", async () => {
    const granted = await net.query(ALARMS, { id: 'globex:mill-1' }, withAnalytics);
    expect(granted.errors).toBeUndefined();
    expect(granted.data.twin.alarms.edges).toMatchObject([
      { node: { cause: 'range:temperature', state: 'ACTIVE_UNACKNOWLEDGED', explanation: { value: 150 } } },
    ]);

    const refused = await net.query(ALARMS, { id: 'globex:mill-1' }, withoutAnalytics);
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    expect(refused.data.twin).toMatchObject({ id: 'globex:mill-1', name: 'globex:mill-1', alarms: null });

    // Audited at the supplier like every partner read: the alarms read, and the one refused.
    const audit = await net.orgs.globex!.request(
      `query { globex { auditEvents(filter: { partner: "acme" }, first: 50) { edges { node { action allowed reason twinIds } } } } }`,
    );
    const entries = audit.data.globex.auditEvents.edges.map((edge: any) => edge.node);
    expect(entries).toEqual(
      expect.arrayContaining([
        { action: 'read', allowed: true, reason: null, twinIds: ['globex:mill-1'] },
        { action: 'read', allowed: false, reason: 'FORBIDDEN', twinIds: ['globex:mill-1'] },
      ]),
    );
  });

  it("serve a supplier's KPIs, maintenance and health as results under analytics:read, and nothing without it", async () => {
    await net.orgs.globex!.request(`mutation { globex { recordFailure(twinId: "globex:mill-1", at: "2026-01-01T00:30:00Z") { at } } }`);
    await net.orgs.globex!.request(`mutation { globex { recordRepair(twinId: "globex:mill-1", at: "2026-01-01T01:30:00Z") { at } } }`);
    const RESULTS = `query($id: ID!) { twin(id: $id) { id kpis(from: "2026-01-01T00:00:00Z", to: "2026-01-01T04:00:00Z") { availability failures mttrSeconds } maintenance { edges { node { type } } } health { index } } }`;
    const granted = await net.query(RESULTS, { id: 'globex:mill-1' }, withAnalytics);
    expect(granted.errors).toBeUndefined();
    // Down one hour of four: availability 0.75, one failure repaired in an hour; no model for mills yet.
    expect(granted.data.twin).toEqual({
      id: 'globex:mill-1',
      kpis: { availability: 0.75, failures: 1, mttrSeconds: 3600 },
      maintenance: { edges: [{ node: { type: 'REPAIR' } }, { node: { type: 'FAILURE' } }] },
      health: null,
    });
    const refused = await net.query(RESULTS, { id: 'globex:mill-1' }, withoutAnalytics);
    expect(codes(refused)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    expect(refused.data.twin).toEqual({ id: 'globex:mill-1', kpis: null, maintenance: null, health: null });
  });

  it("answer with the other organizations' alarms when one is down", async () => {
    await net.orgs.acme!.ingest([{ twinId: 'acme:press-1', metric: 'temperature', at: '2026-01-01T00:00:00Z', value: 500 }]);
    await net.orgs.globex!.stop();
    const response = await net.query(`{ twins(first: 10) { edges { node { id alarms { edges { node { cause } } } } } } }`, undefined, withAnalytics);
    expect(response.data.twins.edges.map((edge: any) => edge.node)).toEqual([
      { id: 'acme:press-1', alarms: { edges: [{ node: { cause: 'range:temperature' } }] } },
      { id: 'globex:mill-1', alarms: null },
    ]);
    expect(JSON.stringify(response.errors)).toContain('globex');
  });
});
