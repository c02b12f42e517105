import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { codes, graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

/**
 * Impact across a hand-built three-tier network. initech's furnace-1 makes castings for globex's
 * press-1 (and lathe-1); press-1's stampings feed acme's line-1, the OEM's. The furnace stops
 * (capacity 0) for 72 h from S, a whole hour after the tests start; times below are hours from S.
 *
 * - furnace-1 (tier 0, 100/day): lost [0, 72), 1 → 100 × 3 days = 300 units.
 * - lathe-1 (tier 1): castings, share 0.5, lead time 6 h, no buffer: lost [6, 78), 0.5.
 * - press-1 (tier 1, 500/day): castings, share 1, lead time 12 h, stock 200 at 100/day, safety 50.
 *   The shortfall (1) arrives [12, 84); the stock lasts 200 / 100 = 2 days = 48 h → lost [60, 84), 1,
 *   500 × 1 day = 500 units; it falls to safety stock after 150 / 100 days = 36 h → at risk from 48.
 * - line-1 (tier 2, 240/day): stampings, share 0.6, lead time 24 h, 0.25 days of supply, safety 0.1.
 *   The shortfall 0.6 arrives [84, 108); the buffer lasts 0.25 / 0.6 days = 10 h → lost [94, 108),
 *   0.6, 240 × 0.6 × 14/24 = 84 units; at risk after 0.15 / 0.6 days = 6 h → from 90.
 *
 * What-if, line-1 (and press-1 where it changes):
 * - an alternate supplier of 30% of line-1's stampings (lead time 1 h, delivering long before the
 *   shortfall): shortfall 0.3; the buffer lasts 0.25 / 0.3 days = 20 h → lost [104, 108), 0.3,
 *   240 × 0.3 × 4/24 = 12 units; at risk after 0.15 / 0.3 days = 12 h → from 96.
 * - half a day of extra castings at press-1: stock 250 lasts 60 h → press-1 lost [72, 84), 1,
 *   250 units, at risk after 200 / 100 days = 48 h → from 60; line-1's shortfall [96, 108) → lost
 *   [106, 108), 0.6, 240 × 0.6 × 2/24 = 12 units, at risk from 102.
 * - stampings expedited to 6 h: the shortfall arrives [66, 90) → lost [76, 90), 0.6, 84 units,
 *   at risk from 72.
 *
 * Besides: initech's oven-1 feeds globex's press-2 (castings, no lead time, no buffer), which feeds
 * acme's line-2 (same), which supplies press-2 with fixtures 24 h later: a cycle across three
 * organizations. initech's furnace-2 feeds umbrella's mill-1; umbrella turns hostile.
 *
 * And a diamond across two organizations, no cycle: initech's kiln-1 feeds globex's mould-1 and
 * initech's kiln-2 (half of its clay, no lead time); mould-1 feeds kiln-2 (glaze, 10 h away), which
 * feeds globex's mould-2. Kiln-1 at half capacity for 24 h: mould-1 loses 0.5 over [0, 24); kiln-2
 * and mould-2 lose 0.25 over [0, 10) (clay), then 0.5 over [10, 34) (glaze, once mould-1's loss is
 * back at initech).
 */

const HOUR = 3_600_000;
const disposers = new Disposers();
let net: TestNetwork;
/** The disruptions' start: a whole hour after the tests start. */
const S = Math.ceil(Date.now() / HOUR) * HOUR + HOUR;
const at = (hours: number) => new Date(S + hours * HOUR).toISOString();
/** An acme engineer with grants (supply:read) from globex and initech on all their twins. */
let engineer: Record<string, string>;
/** ... with a grant from initech only. */
let withoutGlobex: Record<string, string>;
/** ... with a grant from globex on press-1 only. */
let pressOnly: Record<string, string>;
/** What umbrella does to its impact answers. */
let umbrellaTamper: (answer: any) => void = () => undefined;

const IMPACT = `query($of: DisruptionInput!, $maxHops: Int) {
  impact(of: $of, maxHops: $maxHops) {
    hops
    disruptions { twinId from to capacity predicted spreadHours }
    affected { ...Hit }
    unknown { org reason twinIds message }
  }
}
fragment Hit on ImpactedTwin { twinId org tier from to hoursToImpact durationHours capacityLost unitsLost atRiskFrom via chance losses { from to share } }`;

const furnaceDown = () => ({ twinId: 'initech:furnace-1', from: at(0), hours: 72 });

function hit(twinId: string, tier: number, from: number, to: number, share: number, rest: { unitsLost?: number | null; atRiskFrom?: number; via: string }) {
  return {
    twinId,
    org: twinId.split(':')[0],
    tier,
    from: at(from),
    to: at(to),
    hoursToImpact: from,
    durationHours: to - from,
    capacityLost: share,
    unitsLost: rest.unitsLost ?? null,
    atRiskFrom: rest.atRiskFrom === undefined ? null : at(rest.atRiskFrom),
    via: rest.via,
    chance: null,
    losses: [{ from: at(from), to: at(to), share }],
  };
}

const FURNACE = hit('initech:furnace-1', 0, 0, 72, 1, { unitsLost: 300, via: 'initech:furnace-1' });
const LATHE = hit('globex:lathe-1', 1, 6, 78, 0.5, { via: 'initech:furnace-1' });
const PRESS = hit('globex:press-1', 1, 60, 84, 1, { unitsLost: 500, atRiskFrom: 48, via: 'initech:furnace-1' });
const LINE = hit('acme:line-1', 2, 94, 108, 0.6, { unitsLost: 84, atRiskFrom: 90, via: 'globex:press-1' });

async function impact(headers: Record<string, string>, of: Record<string, unknown>, maxHops?: number) {
  const response = await net.query(IMPACT, { of, maxHops }, headers);
  expect(response.errors).toBeUndefined();
  return response.data.impact;
}

/** A member's subgraph behind a proxy that rewrites its impact answers as `tamper` says. */
async function tampered(memberUrl: string, tamper: (answer: any) => void): Promise<string> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const name of ['authorization', 'twin-grants']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
    const answer = await fetch(new URL(req.url!, memberUrl), { method: req.method, headers, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
    const json = (await answer.json()) as { data?: Record<string, { impactStep?: unknown } | null> };
    for (const part of Object.values(json.data ?? {})) if (part?.impactStep) tamper(part.impactStep);
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(json));
  });
  disposers.add(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return listen(server, 0, '127.0.0.1');
}

beforeAll(async () => {
  // Every question here is asked with one engineer's tokens, each weighing 10 requests: room for all of them.
  net = await startNetwork(disposers, ['acme', 'globex', 'initech'], { gateway: { rateLimit: { perSecond: 50, burst: 2000 } } });
  const [acme, globex, initech] = [net.orgs.acme!, net.orgs.globex!, net.orgs.initech!];
  await initech.createTwin({ id: 'initech:furnace-1', name: 'Furnace 1', kind: 'furnace', capacity: { perDay: 100, unit: 'castings' } });
  await initech.createTwin({ id: 'initech:furnace-2', name: 'Furnace 2', kind: 'furnace' });
  await initech.createTwin({ id: 'initech:oven-1', name: 'Oven 1', kind: 'oven' });
  await globex.createTwin({
    id: 'globex:press-1',
    name: 'Press 1',
    kind: 'press',
    suppliedByIds: ['initech:furnace-1'],
    capacity: { perDay: 500, unit: 'stampings' },
    supply: [{ supplierId: 'initech:furnace-1', part: 'castings', share: 1, leadTimeHours: 12, stock: 200, consumptionPerDay: 100, safetyStock: 50 }],
  });
  await globex.createTwin({
    id: 'globex:lathe-1',
    name: 'Lathe 1',
    kind: 'lathe',
    suppliedByIds: ['initech:furnace-1'],
    supply: [{ supplierId: 'initech:furnace-1', part: 'castings', share: 0.5, leadTimeHours: 6 }],
  });
  await globex.createTwin({
    id: 'globex:press-2',
    name: 'Press 2',
    kind: 'press',
    suppliedByIds: ['initech:oven-1', 'acme:line-2'],
    supply: [
      { supplierId: 'initech:oven-1', part: 'castings', share: 1, leadTimeHours: 0 },
      { supplierId: 'acme:line-2', part: 'fixtures', share: 1, leadTimeHours: 24 },
    ],
  });
  await acme.createTwin({
    id: 'acme:line-1',
    name: 'Line 1',
    kind: 'line',
    suppliedByIds: ['globex:press-1'],
    capacity: { perDay: 240, unit: 'cars' },
    supply: [{ supplierId: 'globex:press-1', part: 'stampings', share: 0.6, leadTimeHours: 24, daysOfSupply: 0.25, safetyStock: 0.1 }],
  });
  await acme.createTwin({
    id: 'acme:line-2',
    name: 'Line 2',
    kind: 'line',
    suppliedByIds: ['globex:press-2'],
    supply: [{ supplierId: 'globex:press-2', part: 'stampings', share: 1, leadTimeHours: 0 }],
  });
  await initech.createTwin({ id: 'initech:kiln-1', name: 'Kiln 1', kind: 'kiln' });
  await globex.createTwin({
    id: 'globex:mould-1',
    name: 'Mould 1',
    kind: 'mould',
    suppliedByIds: ['initech:kiln-1'],
    supply: [{ supplierId: 'initech:kiln-1', share: 1, leadTimeHours: 0 }],
  });
  await initech.createTwin({
    id: 'initech:kiln-2',
    name: 'Kiln 2',
    kind: 'kiln',
    suppliedByIds: ['initech:kiln-1', 'globex:mould-1'],
    supply: [
      { supplierId: 'initech:kiln-1', part: 'clay', share: 0.5, leadTimeHours: 0 },
      { supplierId: 'globex:mould-1', part: 'glaze', share: 1, leadTimeHours: 10 },
    ],
  });
  await globex.createTwin({
    id: 'globex:mould-2',
    name: 'Mould 2',
    kind: 'mould',
    suppliedByIds: ['initech:kiln-2'],
    supply: [{ supplierId: 'initech:kiln-2', share: 1, leadTimeHours: 0 }],
  });
  // umbrella answers impact questions through a proxy that rewrites them as a test says.
  const umbrella = await net.startOrg('umbrella');
  await net.join({
    org: 'umbrella',
    url: await tampered(umbrella.url, (answer) => umbrellaTamper(answer)),
  });
  await umbrella.createTwin({
    id: 'umbrella:mill-1',
    name: 'Mill 1',
    kind: 'mill',
    suppliedByIds: ['initech:furnace-2'],
    supply: [{ supplierId: 'initech:furnace-2', part: 'castings', share: 1, leadTimeHours: 1 }],
  });
  for (const org of [acme, globex, initech, umbrella]) await org.eventsPublished();
  await net.catalogHas([
    'acme:line-1',
    'acme:line-2',
    'globex:lathe-1',
    'globex:press-1',
    'globex:mould-1',
    'globex:mould-2',
    'globex:press-2',
    'initech:furnace-1',
    'initech:furnace-2',
    'initech:kiln-1',
    'initech:kiln-2',
    'initech:oven-1',
    'umbrella:mill-1',
  ]);
  const viewer = await acme.memberToken('viewer', 'engineer');
  const grant = async (org: TestOrg, selector: Record<string, unknown>) =>
    (await org.grantToken({ partner: 'acme', scopes: ['twins:read', 'supply:read'], selector })).token;
  const fromInitech = await grant(initech, { idGlobs: ['initech:*'] });
  const fromUmbrella = await grant(umbrella, { idGlobs: ['umbrella:*'] });
  engineer = bearer(viewer, [await grant(globex, { idGlobs: ['globex:*'] }), fromInitech, fromUmbrella]);
  withoutGlobex = bearer(viewer, [fromInitech]);
  pressOnly = bearer(viewer, [await grant(globex, { ids: ['globex:press-1'] }), fromInitech]);
});
afterAll(() => disposers.dispose());

describe('impact of a disruption across the network', () => {
  it('follows the loss hop by hop through buffers and lead times to the OEM’s line, as computed by hand', async () => {
    const answer = await impact(engineer, furnaceDown());
    expect(answer).toEqual({
      hops: 3,
      disruptions: [{ twinId: 'initech:furnace-1', from: at(0), to: at(72), capacity: 0, predicted: false, spreadHours: null }],
      affected: [FURNACE, LATHE, PRESS, LINE],
      unknown: [],
    });
  });

  it('resolves the twins of the answer through the network graph with the caller’s own tokens', async () => {
    const response = await net.query(
      `query($of: DisruptionInput!) { impact(of: $of) { affected { twinId twin { name kind } also: twin { id } } } twin(id: "acme:line-1") { name } }`,
      { of: furnaceDown() },
      engineer,
    );
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      impact: {
        affected: [
          { twinId: 'initech:furnace-1', twin: { name: 'Furnace 1', kind: 'furnace' }, also: { id: 'initech:furnace-1' } },
          { twinId: 'globex:lathe-1', twin: { name: 'Lathe 1', kind: 'lathe' }, also: { id: 'globex:lathe-1' } },
          { twinId: 'globex:press-1', twin: { name: 'Press 1', kind: 'press' }, also: { id: 'globex:press-1' } },
          { twinId: 'acme:line-1', twin: { name: 'Line 1', kind: 'line' }, also: { id: 'acme:line-1' } },
        ],
      },
      twin: { name: 'Line 1' },
    });
  });

  it('is audited at every owner as a partner’s read', async () => {
    await impact(engineer, furnaceDown());
    for (const [org, twinId] of [
      ['initech', 'initech:furnace-1'],
      ['globex', 'globex:press-1'],
    ] as const) {
      const log = await net.orgs[org]!.request(`{ ${org} { auditEvents(filter: { partner: "acme" }) { edges { node { twinIds allowed } } } } }`);
      expect(log.errors).toBeUndefined();
      const reads = log.data[org].auditEvents.edges.map((edge: any) => edge.node);
      expect(reads.some((read: any) => read.allowed && read.twinIds.includes(twinId))).toBe(true);
    }
  });

  it('stops where the caller’s grants stop: FORBIDDEN at globex without a grant of it, acme’s line unknown', async () => {
    const answer = await impact(withoutGlobex, furnaceDown());
    expect(answer.affected).toEqual([FURNACE]);
    expect(answer.unknown).toEqual([{ org: 'globex', reason: 'FORBIDDEN', twinIds: ['initech:furnace-1'], message: expect.stringContaining('globex') }]);
  });

  it('counts the twins hit that a grant on some twins does not show', async () => {
    const answer = await impact(pressOnly, furnaceDown());
    expect(answer.affected).toEqual([FURNACE, PRESS, LINE]);
    expect(answer.unknown).toEqual([
      { org: 'globex', reason: 'FORBIDDEN', twinIds: ['initech:furnace-1'], message: '1 twins at globex are hit that your grants do not show.' },
    ]);
  });

  it('names the organizations beyond the hop limit', async () => {
    const answer = await impact(engineer, furnaceDown(), 2);
    expect(answer.hops).toBe(2);
    expect(answer.affected).toEqual([FURNACE, LATHE, PRESS]);
    expect(answer.unknown).toEqual([{ org: 'acme', reason: 'HOP_LIMIT', twinIds: ['globex:press-1'], message: expect.any(String) }]);
  });

  it('follows a cycle across organizations once and names it', async () => {
    // oven-1 [0, 72) → press-2 [0, 72) → line-2 [0, 72) → press-2's fixtures 24 h later: press-2 lost [0, 96), not followed again.
    const answer = await impact(engineer, { twinId: 'initech:oven-1', from: at(0), hours: 72 });
    expect(answer.hops).toBe(4);
    expect(answer.affected.map((twin: any) => [twin.twinId, twin.tier, twin.from, twin.to])).toEqual([
      ['acme:line-2', 2, at(0), at(72)],
      ['globex:press-2', 1, at(0), at(96)],
      ['initech:oven-1', 0, at(0), at(72)],
    ]);
    expect(answer.unknown).toEqual([{ org: 'globex', reason: 'CYCLE', twinIds: ['globex:press-2'], message: expect.any(String) }]);
  });

  it('follows a later change through a diamond across organizations, which is no cycle', async () => {
    const answer = await impact(engineer, { twinId: 'initech:kiln-1', from: at(0), hours: 24, capacity: 0.5 });
    const losses = Object.fromEntries(answer.affected.map((twin: any) => [twin.twinId, twin.losses.map((loss: any) => [loss.from, loss.to, loss.share])]));
    expect(losses).toEqual({
      'initech:kiln-1': [[at(0), at(24), 0.5]],
      'globex:mould-1': [[at(0), at(24), 0.5]],
      'initech:kiln-2': [
        [at(0), at(10), 0.25],
        [at(10), at(34), 0.5],
      ],
      'globex:mould-2': [
        [at(0), at(10), 0.25],
        [at(10), at(34), 0.5],
      ],
    });
    expect(answer.unknown).toEqual([]);
    expect(answer.hops).toBe(4);
  });

  it('refuses a member’s answer that speaks for another organization’s twins, or whose statement does not say its outputs', async () => {
    const furnace2Down = { twinId: 'initech:furnace-2', from: at(0), hours: 10 };
    const honest = await impact(engineer, furnace2Down);
    expect(honest.affected.map((twin: any) => twin.twinId)).toEqual(['initech:furnace-2', 'umbrella:mill-1']);
    expect(honest.unknown).toEqual([]);
    const refused = { org: 'umbrella', reason: 'UNAVAILABLE', twinIds: ['initech:furnace-2'], message: expect.any(String) };
    umbrellaTamper = (answer) => {
      for (const twin of answer.affected) twin.twinId = 'globex:press-1';
    };
    const foreign = await impact(engineer, furnace2Down);
    expect(foreign.affected.map((twin: any) => twin.twinId)).toEqual(['initech:furnace-2']);
    expect(foreign.unknown).toEqual([{ ...refused, message: expect.stringContaining('globex:press-1') }]);
    // Its loss said longer than it signed.
    umbrellaTamper = (answer) => {
      for (const output of answer.outputs) output.loss[0].to += HOUR;
    };
    const unsigned = await impact(engineer, furnace2Down);
    expect(unsigned.affected.map((twin: any) => twin.twinId)).toEqual(['initech:furnace-2']);
    expect(unsigned.unknown).toEqual([refused]);
    // A disruption it was not asked about, which would shift everyone's times to impact.
    umbrellaTamper = (answer) => {
      answer.disruptions.push({ twinId: 'umbrella:mill-1', from: S - 24 * HOUR, to: S + HOUR, capacity: 0, predicted: false, spreadHours: null });
    };
    const invented = await impact(engineer, furnace2Down);
    expect(invented.disruptions.map((disruption: any) => disruption.twinId)).toEqual(['initech:furnace-2']);
    expect(invented.affected.map((twin: any) => twin.twinId)).toEqual(['initech:furnace-2']);
    expect(invented.unknown).toEqual([{ ...refused, message: expect.stringContaining('disruptions') }]);
    umbrellaTamper = () => undefined;
  });

  it('serves the soonest twins hit when asked for the first few, naming where the answer stops', async () => {
    const response = await net.query(
      `query($of: DisruptionInput!) { impact(of: $of) { hops affected(first: 2) { twinId } unknown { org reason } } }`,
      { of: furnaceDown() },
      withoutGlobex,
    );
    expect(response.errors).toBeUndefined();
    expect(response.data.impact).toEqual({ hops: 2, affected: [{ twinId: 'initech:furnace-1' }], unknown: [{ org: 'globex', reason: 'FORBIDDEN' }] });
    const first = await net.query(`query($of: DisruptionInput!) { impact(of: $of) { affected(first: 2) { twinId } } }`, { of: furnaceDown() }, engineer);
    expect(first.data.impact.affected).toEqual([{ twinId: 'initech:furnace-1' }, { twinId: 'globex:lathe-1' }]);
  });

  it('refuses an operation asking more impact questions than its cost allows before asking any organization', async () => {
    let steps = 0;
    umbrellaTamper = () => steps++;
    const furnace2Down = { twinId: 'initech:furnace-2', from: at(0), hours: 72 };
    const aliased = Array.from({ length: 20 }, (_, i) => `i${i}: impact(of: $of) { hops }`).join(' ');
    const refused = await net.query(`query($of: DisruptionInput!) { ${aliased} }`, { of: furnace2Down }, engineer);
    expect(codes(refused)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ kind: 'cost' });
    expect(steps).toBe(0);
    const one = await net.query(`query($of: DisruptionInput!) { impact(of: $of) { hops } }`, { of: furnace2Down }, engineer);
    expect(one.errors).toBeUndefined();
    expect(steps).toBe(1);
    umbrellaTamper = () => undefined;
  });

  it('counts each question as 10 requests for its caller’s rate', async () => {
    // 25 requests, then one per 100 s: the third question is refused, though its request is let in.
    const limited = await net.startGateway({ pollMs: 60_000, rateLimit: { perSecond: 0.01, burst: 25 } });
    const ask = () =>
      graphql(
        limited.url,
        `
          query ($of: DisruptionInput!) {
            impact(of: $of, maxHops: 1) {
              hops
            }
          }
        `,
        { of: furnaceDown() },
        engineer,
      );
    for (let question = 0; question < 2; question++) expect((await ask()).data).toEqual({ impact: { hops: 1 } });
    expect(codes(await ask())).toEqual(['RATE_LIMITED']);
    expect(
      (
        await graphql(
          limited.url,
          `
            {
              twin(id: "initech:furnace-1") {
                name
              }
            }
          `,
          undefined,
          engineer,
        )
      ).data,
    ).toEqual({ twin: { name: 'Furnace 1' } });
  });

  it('refuses malformed questions with INVALID_INPUT', async () => {
    for (const [of, maxHops] of [
      [{ twinId: 'not a twin' }, undefined],
      [{ twinId: 'initech:furnace-1', from: at(10), to: at(5) }, undefined],
      [{ twinId: 'initech:furnace-1', capacity: 1 }, undefined],
      [{ twinId: 'initech:furnace-1', from: '2099-01-01T00:00:00Z' }, undefined],
      [furnaceDown(), 33],
      [furnaceDown(), 0],
    ] as const) {
      expect(codes(await net.query(IMPACT, { of, maxHops }, engineer))).toEqual(['INVALID_INPUT']);
    }
    const backwards = await net.query(IMPACT, { of: { twinId: 'initech:furnace-1', from: at(10), to: at(5) } }, engineer);
    expect(backwards.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'of.disruptions.0.to' });
    for (const first of [0, 10_001]) {
      expect(
        codes(
          await net.query(
            `query($of: DisruptionInput!, $first: Int!) { impact(of: $of) { affected(first: $first) { twinId } } }`,
            { of: furnaceDown(), first },
            engineer,
          ),
        ),
      ).toEqual(['INVALID_INPUT']);
    }
    const many = Array.from({ length: 11 }, (_, i) => ({ name: `s${i}`, disruptions: [furnaceDown()] }));
    expect(codes(await net.query(`query($s: [ScenarioInput!]) { whatIf(scenarios: $s, maxHops: 1) { name } }`, { s: many }, engineer))).toEqual([
      'INVALID_INPUT',
    ]);
    expect(codes(await net.query(`{ whatIf { name } }`, undefined, engineer))).toEqual(['INVALID_INPUT']);
  });
});

describe('what-if scenarios', () => {
  const WHAT_IF = `query($scenarios: [ScenarioInput!], $ids: [ID!]) {
    whatIf(scenarios: $scenarios, scenarioIds: $ids) { name scenarioId impact { hops affected(first: 10) { ...Hit } unknown { reason } } }
  }
  fragment Hit on ImpactedTwin { twinId org tier from to hoursToImpact durationHours capacityLost unitsLost atRiskFrom via chance losses { from to share } }`;
  const extraCastings = { customerId: 'globex:press-1', supplierId: 'initech:furnace-1', days: 0.5 };
  const PRESS_WITH_EXTRA = hit('globex:press-1', 1, 72, 84, 1, { unitsLost: 250, atRiskFrom: 60, via: 'initech:furnace-1' });
  const LINE_WITH_EXTRA = hit('acme:line-1', 2, 106, 108, 0.6, { unitsLost: 12, atRiskFrom: 102, via: 'globex:press-1' });

  it('evaluates scenarios side by side without touching the twins', async () => {
    const response = await net.query(
      WHAT_IF,
      {
        scenarios: [
          { name: 'as is', disruptions: [furnaceDown()] },
          { name: 'alternate', disruptions: [furnaceDown()], alternates: [{ customerId: 'acme:line-1', part: 'stampings', share: 0.3, leadTimeHours: 1 }] },
          { name: 'extra stock', disruptions: [furnaceDown()], extraStock: [extraCastings] },
          { name: 'expedited', disruptions: [furnaceDown()], leadTimes: [{ customerId: 'acme:line-1', supplierId: 'globex:press-1', leadTimeHours: 6 }] },
        ],
      },
      engineer,
    );
    expect(response.errors).toBeUndefined();
    const impact = (name: string, affected: unknown[]) => ({ name, scenarioId: null, impact: { hops: 3, affected, unknown: [] } });
    expect(response.data.whatIf).toEqual([
      impact('as is', [FURNACE, LATHE, PRESS, LINE]),
      impact('alternate', [FURNACE, LATHE, PRESS, hit('acme:line-1', 2, 104, 108, 0.3, { unitsLost: 12, atRiskFrom: 96, via: 'globex:press-1' })]),
      impact('extra stock', [FURNACE, LATHE, PRESS_WITH_EXTRA, LINE_WITH_EXTRA]),
      impact('expedited', [FURNACE, LATHE, PRESS, hit('acme:line-1', 2, 76, 90, 0.6, { unitsLost: 84, atRiskFrom: 72, via: 'globex:press-1' })]),
    ]);
    // The twins' supply is as it was.
    const supply = await net.query(`{ twin(id: "globex:press-1") { supply { stock leadTimeHours } } }`, undefined, engineer);
    expect(supply.data.twin.supply).toEqual([{ stock: 200, leadTimeHours: 12 }]);
  });

  it('evaluates a scenario saved at acme by its id', async () => {
    const definition = { name: 'Furnace down, extra castings', disruptions: [furnaceDown()], extraStock: [extraCastings] };
    const saved = await net.orgs.acme!.request(`mutation($d: JSON!) { acme { saveScenario(name: "Furnace down, extra castings", definition: $d) { id } } }`, {
      d: definition,
    });
    expect(saved.errors).toBeUndefined();
    const id = saved.data.acme.saveScenario.id;
    const response = await net.query(WHAT_IF, { ids: [id] }, engineer);
    expect(response.errors).toBeUndefined();
    expect(response.data.whatIf).toEqual([
      { name: 'Furnace down, extra castings', scenarioId: id, impact: { hops: 3, affected: [FURNACE, LATHE, PRESS_WITH_EXTRA, LINE_WITH_EXTRA], unknown: [] } },
    ]);
    const missing = await net.query(WHAT_IF, { ids: ['acme:00000000-0000-4000-8000-000000000000'] }, engineer);
    expect(codes(missing)).toEqual(['NOT_FOUND']);
  });
});

describe('an organization down', () => {
  it('yields a partial answer naming it, not a failed query', async () => {
    await net.orgs.globex!.stop();
    const answer = await impact(engineer, furnaceDown());
    expect(answer.affected).toEqual([FURNACE]);
    expect(answer.unknown).toEqual([{ org: 'globex', reason: 'UNAVAILABLE', twinIds: ['initech:furnace-1'], message: expect.stringContaining('globex') }]);
  });
});
