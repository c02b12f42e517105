// Early warning across companies, live through the gateway: a tier-2 supplier's furnace stops
// (its failure recorded at its own organization) and the OEM's dashboard, subscribed to its own
// line, hears of it with the time to impact after lead times and buffers — only because both
// suppliers granted it supply:read; the repair clears it. A dashboard without the tier-2
// supplier's grant hears nothing, and a subscription resuming after the warning does not get it
// again. A supplier slow to answer holds back only the dashboards whose warning waits for it; a
// member announcing disruptions without end and answering slowly holds back no other member's
// warning. A warning caused by an alarm needs analytics:read on the twin, and its CLEARED comes to
// the dashboard that had it OPEN even once the supply data no longer makes it hit.
//
// The chain, by hand (disruption from F for 24 h: the furnace has no repair on record):
//   furnace (globex) → press (initech): lead time 12 h, 0.5 days of supply. The shortfall reaches
//   the press at F + 12 h, its buffer lasts 12 h: the press stops from F + 24 h to F + 36 h.
//   press (initech) → line (acme): lead time 6 h, 0.25 days of supply. The shortfall reaches the
//   line at F + 30 h, its buffer lasts 6 h: the line stops from F + 36 h to F + 42 h (tier 2).
import type { Client } from 'graphql-ws';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { SLOW_CONSUMER } from '../../gateway/subscriptions/fanout.ts';
import { connect, endOfStream, protocolSubscriber, subscribe, subscriptionsServed, type TestSubscription } from '../support/subscriptions.ts';

const disposers = new Disposers();
let net: TestNetwork;
let dashboard: Record<string, string>;
let blind: Record<string, string>;
/** The dashboard's tokens, and globex's grant with analytics:read as well. */
let analyst: Record<string, string>;
/** A dashboard holding a grant of hooli's only. */
let hooliWatcher: Record<string, string>;

/** An organization's impact answers, held back while `held` is set; `asked` counts the questions. */
interface Gate {
  held: Promise<void> | null;
  asked: number;
}
const initechGate: Gate = { held: null, asked: 0 };
const hooliGate: Gate = { held: null, asked: 0 };

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
/**
 * When the furnace fails: in the past, as failures are recorded; its repair an hour ago makes its
 * mean time to repair 25 h, which a later stop lasts.
 */
const F = Date.now() - 26 * HOUR;

const EVENTS = `subscription($after: String) {
  twinEvents(filter: { twinIds: ["acme:line-1"] }, after: $after) {
    cursor type twinId org
    disruption { id cause state twinId from to capacity }
    impact {
      affected { twinId org tier from to hoursToImpact durationHours capacityLost via twin { name } }
      unknown { org reason }
    }
  }
}`;

function client(headers: Record<string, string>): Client {
  const c = connect(net.gateway.url, headers);
  disposers.add(async () => c.dispose());
  return c;
}

async function next(subscription: TestSubscription) {
  const result = await subscription.next();
  expect(result.errors).toBeUndefined();
  return result.data.twinEvents;
}

let reading = 0;
/** A reading of the OEM's line: an event every subscriber to the line receives, after whatever came before it. */
async function lineReading() {
  reading += 1;
  await net.orgs.acme!.ingest([{ twinId: 'acme:line-1', metric: 'temperature', at: iso(Date.UTC(2026, 0, 1, 0, reading)), value: 20 + reading }]);
  await net.orgs.acme!.eventsPublished();
}

async function maintenance(type: 'Failure' | 'Repair', at: number, org: 'globex' | 'hooli' = 'globex', twinId = 'globex:furnace-1') {
  const response = await net.orgs[org]!.request(`mutation($at: DateTime!) { ${org} { record${type}(twinId: "${twinId}", at: $at) { at } } }`, {
    at: iso(at),
  });
  expect(response.errors).toBeUndefined();
  await net.orgs[org]!.eventsPublished();
}

/** A reading of the furnace's temperature (its maximum 1000 °C: above, a HIGH alarm). */
async function furnaceReading(at: number, value: number) {
  await net.orgs.globex!.ingest([{ twinId: 'globex:furnace-1', metric: 'temperature', at: iso(at), value }]);
  await net.orgs.globex!.eventsPublished();
}

/** Initech's press keeps `days` of the furnace's billets. */
async function pressBuffer(days: number) {
  const response = await net.orgs.initech!.request(
    `mutation($supply: [SupplyLinkInput!]!) { initech { updateTwin(id: "initech:press-1", patch: { supply: $supply }) { id } } }`,
    {
      supply: [{ supplierId: 'globex:furnace-1', part: 'billet', share: 1, leadTimeHours: 12, daysOfSupply: days }],
    },
  );
  expect(response.errors).toBeUndefined();
}

/** An organization's subgraph behind a proxy that holds its impact answers back while its gate is held. */
async function holding(memberUrl: string, gate: Gate): Promise<string> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (body.includes('impactStep')) {
      gate.asked += 1;
      if (gate.held) await gate.held;
    }
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'authorization', 'twin-grants']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
    const answer = await fetch(new URL(req.url!, memberUrl), { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  disposers.add(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return listen(server, 0, '127.0.0.1');
}

beforeAll(async () => {
  // A supplier held back is waited for (up to the gateway's deadline per organization). Every
  // question reaches its organization, none shared with an identical one in flight: each question
  // held at a member is a computation held at the gateway.
  net = await startNetwork(disposers, ['globex', 'acme'], { gateway: { subgraphTimeoutMs: 30_000, dedupe: false } });
  const initech = await net.startOrg('initech');
  net.orgs.initech = initech;
  await net.join({ org: 'initech', url: await holding(initech.url, initechGate) });
  const hooli = await net.startOrg('hooli');
  net.orgs.hooli = hooli;
  await net.join({ org: 'hooli', url: await holding(hooli.url, hooliGate) });
  const metrics = [{ name: 'temperature', unit: 'C', min: 0, max: 1000 }];
  await net.orgs.globex!.createTwin({ id: 'globex:furnace-1', name: 'Furnace 1', kind: 'furnace', metrics, capacity: { perDay: 100 } });
  await net.orgs.initech!.createTwin({
    id: 'initech:press-1',
    name: 'Press 1',
    kind: 'press',
    suppliedByIds: ['globex:furnace-1'],
    supply: [{ supplierId: 'globex:furnace-1', part: 'billet', share: 1, leadTimeHours: 12, daysOfSupply: 0.5 }],
  });
  await net.orgs.acme!.createTwin({
    id: 'acme:line-1',
    name: 'Line 1',
    kind: 'line',
    metrics,
    suppliedByIds: ['initech:press-1'],
    supply: [{ supplierId: 'initech:press-1', part: 'panel', share: 1, leadTimeHours: 6, daysOfSupply: 0.25 }],
  });
  await net.orgs.hooli!.createTwin({ id: 'hooli:pump-1', name: 'Pump 1', kind: 'pump' });
  await net.catalogHas(['acme:line-1', 'globex:furnace-1', 'hooli:pump-1', 'initech:press-1']);
  await eventually(async () => {
    const ready = (await (await fetch(net.gateway.url.replace('/graphql', '/readyz'))).json()) as { members: string[] };
    expect(ready.members).toEqual(expect.arrayContaining(['initech:ACTIVE', 'hooli:ACTIVE']));
  });
  const grant = async (org: 'globex' | 'initech' | 'hooli', id: string, scopes = ['supply:read']) =>
    (await net.orgs[org]!.grantToken({ partner: 'acme', scopes, selector: { ids: [id] } })).token;
  const fromGlobex = await grant('globex', 'globex:furnace-1');
  const fromInitech = await grant('initech', 'initech:press-1');
  dashboard = bearer(await net.orgs.acme!.memberToken('viewer', 'dashboard'), [fromGlobex, fromInitech]);
  blind = bearer(await net.orgs.acme!.memberToken('viewer', 'other-dashboard'), [fromInitech]);
  analyst = bearer(await net.orgs.acme!.memberToken('viewer', 'analyst'), [
    await grant('globex', 'globex:furnace-1', ['supply:read', 'analytics:read']),
    fromInitech,
  ]);
  hooliWatcher = bearer(await net.orgs.acme!.memberToken('viewer', 'hooli-dashboard'), [await grant('hooli', 'hooli:pump-1')]);
});
afterAll(() => disposers.dispose());

describe('early warning across companies', () => {
  let warning: any;

  it("brings the OEM's dashboard an IMPACT event when a tier-2 furnace stops, with the time to impact on its line; nothing without the supplier's grant", async () => {
    const after = await endOfStream(net);
    const oem = subscribe(client(dashboard), EVENTS, { after });
    const other = subscribe(client(blind), EVENTS, { after });
    const statesOnly = subscribe(client(dashboard), EVENTS.replace('twinIds: ["acme:line-1"]', 'twinIds: ["acme:line-1"], types: [STATE]'), { after });
    const byKind = subscribe(client(dashboard), EVENTS.replace('twinIds: ["acme:line-1"]', 'kinds: ["line"]'), { after });
    await maintenance('Failure', F);
    await lineReading();

    warning = await next(oem);
    expect(warning).toMatchObject({
      type: 'IMPACT',
      twinId: 'globex:furnace-1',
      org: 'globex',
      disruption: { cause: 'STOPPED', state: 'OPEN', twinId: 'globex:furnace-1', from: iso(F), to: iso(F + 24 * HOUR), capacity: 0 },
      impact: { unknown: [] },
    });
    const line = warning.impact.affected.find((twin: any) => twin.twinId === 'acme:line-1');
    expect(line).toEqual({
      twinId: 'acme:line-1',
      org: 'acme',
      tier: 2,
      from: iso(F + 36 * HOUR),
      to: iso(F + 42 * HOUR),
      hoursToImpact: 36,
      durationHours: 6,
      capacityLost: 1,
      via: 'initech:press-1',
      twin: { name: 'Line 1' },
    });
    expect(warning.impact.affected.map((twin: any) => twin.twinId)).toEqual(['globex:furnace-1', 'initech:press-1', 'acme:line-1']);
    expect(await next(oem)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });

    // Selecting the OEM's lines by kind: the same warning (the kinds of the twins hit are read with its tokens).
    expect(await next(byKind)).toEqual(warning);
    expect(await next(byKind)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });

    // Its tokens stop at globex: the line's reading is the first thing it hears.
    expect(await next(other)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    // Asked for STATE events only: no IMPACT.
    expect(await next(statesOnly)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    await Promise.all([oem.close(), other.close(), statesOnly.close(), byKind.close()]);

    // Two subscriptions with the same tokens, one computation: globex was asked (and audited) once.
    const audit = await net.orgs.globex!.request(
      `query { globex { auditEvents(filter: { partner: "acme" }, first: 50) { edges { node { action allowed twinIds } } } } }`,
    );
    const reads = audit.data.globex.auditEvents.edges.map((edge: any) => edge.node).filter((entry: any) => entry.allowed);
    expect(reads).toEqual([{ action: 'read', allowed: true, twinIds: ['globex:furnace-1'] }]);
  });

  it('clears it when the furnace is repaired, its impact computed again (the supply data unchanged: as it was when opened)', async () => {
    const after = warning.cursor;
    const oem = subscribe(client(dashboard), EVENTS, { after });
    const other = subscribe(client(blind), EVENTS, { after });
    // Resuming after the warning: the line's reading after it comes first, not the warning again.
    expect(await next(oem)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(await next(other)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });

    await maintenance('Repair', Date.now() - HOUR);
    await lineReading();
    const cleared = await next(oem);
    expect(cleared).toMatchObject({ type: 'IMPACT', twinId: 'globex:furnace-1', disruption: { ...warning.disruption, state: 'CLEARED' } });
    expect(cleared.impact).toEqual(warning.impact);
    expect(await next(oem)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(await next(other)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    await Promise.all([oem.close(), other.close()]);
  });

  it("is an event the directory's catalog and the gateway take without refusing it, the catalog unchanged", async () => {
    const refused = async (url: string) => ((await (await fetch(url.replace('/graphql', '/readyz'))).json()) as { rejectedMessages: unknown }).rejectedMessages;
    expect(await refused(net.directory.url)).toEqual({});
    expect(await refused(net.gateway.url)).toEqual({});
    await net.catalogHas(['acme:line-1', 'globex:furnace-1', 'hooli:pump-1', 'initech:press-1']);
  });

  it('a supplier slow to answer holds back only the dashboards whose warning waits for it', async () => {
    const after = await endOfStream(net);
    const oem = subscribe(client(dashboard), EVENTS, { after });
    const other = subscribe(client(blind), EVENTS, { after });
    // The furnace stops for its mean time to repair, 25 h: the line is hit again (from 36 h on).
    let release!: () => void;
    initechGate.held = new Promise((resolve) => (release = resolve));
    await maintenance('Failure', Date.now() - HOUR / 2);
    await lineReading();
    let heard = false;
    const warned = next(oem).then((event) => {
      heard = true;
      return event;
    });
    // initech's answer is held: the dashboard whose tokens stop at globex hears of the line meanwhile.
    expect(await next(other)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(heard).toBe(false);
    initechGate.held = null;
    release();
    expect(await warned).toMatchObject({ type: 'IMPACT', twinId: 'globex:furnace-1', disruption: { cause: 'STOPPED', state: 'OPEN' } });
    expect(await next(oem)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    await Promise.all([oem.close(), other.close()]);
  });

  it('tells of an alarm of the furnace only the dashboards with analytics:read on it; the CLEARED comes to the one that had it OPEN though the line is no longer hit', async () => {
    const after = await endOfStream(net);
    const supplyOnly = subscribe(client(dashboard), EVENTS, { after });
    const withAnalytics = subscribe(client(analyst), EVENTS, { after });
    // The furnace overheats: a HIGH alarm, "if it stops now" (for its mean time to repair, 25 h).
    await furnaceReading(Date.now() - 2 * HOUR, 1500);
    await lineReading();
    const opened = await next(withAnalytics);
    expect(opened).toMatchObject({ type: 'IMPACT', twinId: 'globex:furnace-1', disruption: { cause: 'ALARM', state: 'OPEN' } });
    expect(opened.impact.affected.map((twin: any) => twin.twinId)).toContain('acme:line-1');
    expect(await next(withAnalytics)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    // supply:read only: the alarm is not told, the line's reading is the first thing it hears.
    expect(await next(supplyOnly)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });

    // The press now keeps 100 days of billets: the furnace's stop no longer reaches the line.
    await pressBuffer(100);
    const since = subscribe(client(analyst), EVENTS.replace('twinIds: ["acme:line-1"]', 'kinds: ["line"]'), { after: opened.cursor });
    await furnaceReading(Date.now() - HOUR, 500);
    await lineReading();
    const cleared = await next(withAnalytics);
    expect(cleared).toMatchObject({ type: 'IMPACT', twinId: 'globex:furnace-1', disruption: { ...opened.disruption, state: 'CLEARED' } });
    expect(cleared.impact.affected.map((twin: any) => twin.twinId)).not.toContain('acme:line-1');
    expect(await next(withAnalytics)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    // Resuming after the OPEN, a subscription never had it: the CLEARED that no longer hits its line is not sent.
    expect(await next(since)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(await next(since)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(await next(supplyOnly)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    await Promise.all([supplyOnly.close(), withAnalytics.close(), since.close()]);
    await pressBuffer(0.5);
  });

  it("a member announcing disruptions without end and answering slowly holds back no other member's warning", async () => {
    const after = await endOfStream(net);
    const hostileWatched = subscribe(client(hooliWatcher), EVENTS, { after });
    const oem = subscribe(client(dashboard), EVENTS, { after });
    let release!: () => void;
    hooliGate.held = new Promise((resolve) => (release = resolve));
    // Hooli's pump fails and is repaired, again and again: each an impact to compute for its watcher, answered slowly.
    for (let hour = 10; hour > 4; hour -= 2) {
      await maintenance('Failure', Date.now() - hour * HOUR, 'hooli', 'hooli:pump-1');
      await maintenance('Repair', Date.now() - (hour - 1) * HOUR, 'hooli', 'hooli:pump-1');
    }
    // Its questions hold computations (of the 4 a gateway runs at once) while they wait.
    await eventually(async () => expect(hooliGate.asked).toBeGreaterThanOrEqual(2));
    // The furnace is repaired: the OEM's dashboard (no token of hooli's, so nothing computed for it
    // there) hears of it, and of its line after it, while hooli still holds its answers.
    await maintenance('Repair', Date.now() - HOUR / 3);
    await lineReading();
    expect(await next(oem)).toMatchObject({ type: 'IMPACT', twinId: 'globex:furnace-1', disruption: { cause: 'STOPPED', state: 'CLEARED' } });
    expect(await next(oem)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(hooliGate.held).not.toBeNull();
    hooliGate.held = null;
    release();
    // Hooli's pump supplies nothing of the line: its watcher hears of the line only.
    expect(await next(hostileWatched)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    // Asked only for its watcher's token set: each of its 6 disruptions once.
    expect(hooliGate.asked).toBe(6);
    await Promise.all([hostileWatched.close(), oem.close()]);
  });

  it('a warning not computed in time is not sent and the events behind it come; a subscription holding too many events behind one is closed as too slow', async () => {
    const strict = await net.startGateway({ pollMs: 60_000, subgraphTimeoutMs: 30_000, impactDeadlineMs: 3000, maxPendingEvents: 3 });
    await eventually(async () => {
      const ready = (await (await fetch(strict.url.replace('/graphql', '/readyz'))).json()) as { members: string[] };
      expect(ready.members).toEqual(expect.arrayContaining(['initech:ACTIVE', 'hooli:ACTIVE']));
    });
    const watcherClient = connect(strict.url, hooliWatcher);
    disposers.add(async () => watcherClient.dispose());
    const watcher = subscribe(watcherClient, EVENTS, { after: await endOfStream(net) });
    let release!: () => void;
    hooliGate.held = new Promise((resolve) => (release = resolve));
    const asked = hooliGate.asked;
    await maintenance('Failure', Date.now() - 3 * HOUR, 'hooli', 'hooli:pump-1');
    await lineReading();
    // Hooli holds its answer past the deadline: the line's reading comes, no warning before it.
    expect(await next(watcher)).toMatchObject({ type: 'STATE', twinId: 'acme:line-1' });
    expect(hooliGate.asked).toBe(asked + 1);
    await watcher.close();
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(0));

    // Behind the repair's warning, held again, the line's readings pile up: past 3, the subscriber is cut off.
    const received: unknown[] = [];
    const socket = await protocolSubscriber(strict.url, hooliWatcher, EVENTS, (payload) => received.push(payload));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    await eventually(async () => expect(await subscriptionsServed(strict.url)).toBe(1));
    await maintenance('Repair', Date.now() - 2 * HOUR, 'hooli', 'hooli:pump-1');
    for (let i = 0; i < 3; i++) await lineReading();
    expect(await closed).toBe(SLOW_CONSUMER);
    expect(received).toEqual([]);
    hooliGate.held = null;
    release();
  });
});
