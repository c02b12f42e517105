import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImpactStepAnswer, ImpactStepRequest } from '../../../lib/impact/types.ts';
import { IMPACT_AUDIENCE, issuerOf, TOKEN_TYPES } from '../../../lib/tokens/tokens.ts';
import { codes, whileHealthChecked } from '../../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const HOUR = 3_600_000;
/** When the questions are asked. */
const N = Date.UTC(2026, 11, 1, 6);
/** N + hours. */
const at = (hours: number) => N + hours * HOUR;

const STEP = `query($request: JSON!) { acme { impactStep(request: $request) } }`;
const AUDIT = `query($filter: AuditFilter) { acme { auditEvents(filter: $filter) { edges { node { action twinIds allowed reason } } } } }`;

/** A hop's request: nothing disrupted, no inputs, no modifications, over two days from N, but what is given. */
const request = (given: Partial<ImpactStepRequest>): ImpactStepRequest => ({
  now: N,
  until: at(48),
  disruptions: [],
  inputs: [],
  modifications: { alternates: [], extraStock: [], leadTimes: [] },
  ...given,
});

async function step(given: Partial<ImpactStepRequest> | unknown, headers?: Record<string, string>) {
  const body = given !== null && typeof given === 'object' && !Array.isArray(given) ? request(given as Partial<ImpactStepRequest>) : given;
  return acme.request<{ acme: { impactStep: ImpactStepAnswer } }>(STEP, { request: body }, headers);
}

async function answer(given: Partial<ImpactStepRequest>, headers?: Record<string, string>): Promise<ImpactStepAnswer> {
  const response = await step(given, headers);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data!.acme.impactStep;
}

/** press-1 stops for 10 hours from N. */
const pressStop = { twinId: 'acme:press-1', hours: 10, capacity: 0, predicted: false };

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  // press-1 → body-1 (panels: half its need, 2 h away, 20 in stock, 10 safety, 240 a day) → paint-1 (1 h away) → final-1.
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', capacity: { perDay: 240, unit: 'panels' } });
  await acme.createTwin({
    id: 'acme:body-1',
    name: 'Body 1',
    kind: 'body',
    suppliedByIds: ['acme:press-1'],
    capacity: { perDay: 48, unit: 'bodies' },
    supply: [{ supplierId: 'acme:press-1', part: 'panel', share: 0.5, leadTimeHours: 2, stock: 20, safetyStock: 10, consumptionPerDay: 240 }],
  });
  await acme.createTwin({
    id: 'acme:paint-1',
    name: 'Paint 1',
    kind: 'paint',
    suppliedByIds: ['acme:body-1'],
    supply: [{ supplierId: 'acme:body-1', leadTimeHours: 1 }],
  });
  await acme.createTwin({ id: 'acme:final-1', name: 'Final 1', kind: 'body', suppliedByIds: ['acme:paint-1'], supply: [{ supplierId: 'acme:paint-1' }] });
  // paint-2 has ten days of panels: the press stopping never reaches its output.
  await acme.createTwin({
    id: 'acme:paint-2',
    name: 'Paint 2',
    kind: 'paint',
    suppliedByIds: ['acme:press-1'],
    supply: [{ supplierId: 'acme:press-1', daysOfSupply: 10 }],
  });
  // stamp-1 runs on globex's steel, with half a day of it in stock.
  await acme.createTwin({
    id: 'acme:stamp-1',
    name: 'Stamp 1',
    kind: 'stamp',
    suppliedByIds: ['globex:steel-1'],
    supply: [{ supplierId: 'globex:steel-1', daysOfSupply: 0.5 }],
  });
});
afterAll(() => disposers.dispose());

const pressHit = {
  twinId: 'acme:press-1',
  tier: 0,
  from: at(0),
  to: at(10),
  capacityLost: 1,
  unitsLost: 100,
  atRiskFrom: null,
  via: 'acme:press-1',
  loss: [{ from: at(0), to: at(10), loss: 1 }],
};
// The shortfall (half of 240 a day) reaches body-1 at 2 h and drains its 20 panels at 5 an hour: below safety at 4 h, empty at 6 h.
const bodyHit = {
  twinId: 'acme:body-1',
  tier: 1,
  from: at(6),
  to: at(12),
  capacityLost: 0.5,
  unitsLost: 6,
  atRiskFrom: at(4),
  via: 'acme:press-1',
  loss: [{ from: at(6), to: at(12), loss: 0.5 }],
};
const paintHit = {
  twinId: 'acme:paint-1',
  tier: 2,
  from: at(7),
  to: at(13),
  capacityLost: 0.5,
  unitsLost: null,
  atRiskFrom: null,
  via: 'acme:body-1',
  loss: [{ from: at(7), to: at(13), loss: 0.5 }],
};
const finalHit = { ...paintHit, twinId: 'acme:final-1', tier: 3, via: 'acme:paint-1' };
const output = ({ twinId, tier, loss }: { twinId: string; tier: number; loss: unknown }) => ({ supplierId: twinId, tier, loss });

describe('impactStep', () => {
  it('follows a disruption down the organization, with times computed by hand', async () => {
    const result = await answer({ disruptions: [pressStop] });
    expect(result.disruptions).toEqual([{ twinId: 'acme:press-1', from: at(0), to: at(10), capacity: 0, predicted: false, spreadHours: null }]);
    expect(result.affected).toEqual([pressHit, bodyHit, finalHit, paintHit]);
    expect(result.outputs).toEqual([pressHit, bodyHit, finalHit, paintHit].map(output));
    expect(result).toMatchObject({ hidden: 0, cycles: [] });
  });

  it('resolves a disruption without hours to the end of the horizon, from the time given', async () => {
    const result = await answer({ disruptions: [{ twinId: 'acme:paint-1', from: at(1), capacity: 0.5, predicted: false }], until: at(5) });
    expect(result.disruptions).toEqual([{ twinId: 'acme:paint-1', from: at(1), to: at(5), capacity: 0.5, predicted: false, spreadHours: null }]);
    expect(result.affected.map((twin) => [twin.twinId, twin.from, twin.to])).toEqual([
      ['acme:final-1', at(1), at(5)],
      ['acme:paint-1', at(1), at(5)],
    ]);
  });

  it("takes other organizations' losses as inputs", async () => {
    const steel = { supplierId: 'globex:steel-1', tier: 0, loss: [{ from: at(0), to: at(24), loss: 1 }] };
    const result = await answer({ inputs: [steel] });
    // Half a day of steel in stock: stamp-1 stops at 12 h, until the steel is back.
    expect(result.affected).toEqual([
      {
        twinId: 'acme:stamp-1',
        tier: 1,
        from: at(12),
        to: at(24),
        capacityLost: 1,
        unitsLost: null,
        atRiskFrom: null,
        via: 'globex:steel-1',
        loss: [{ from: at(12), to: at(24), loss: 1 }],
      },
    ]);
  });

  it('signs its outputs: the statement verifies against the organization JWKS and names them', async () => {
    const result = await answer({ disruptions: [pressStop] });
    const jwks = createLocalJWKSet((await (await fetch(acme.url.replace('/graphql', '/.well-known/jwks.json'))).json()) as JSONWebKeySet);
    const verify = (statement: string) => jwtVerify(statement, jwks, { issuer: issuerOf('acme'), audience: IMPACT_AUDIENCE, typ: TOKEN_TYPES.impact });
    expect((await verify(result.statement)).payload.outputs).toEqual(result.outputs);
    const [header, , signature] = result.statement.split('.');
    const forged = [header, Buffer.from(JSON.stringify({ outputs: [] })).toString('base64url'), signature].join('.');
    await expect(verify(forged)).rejects.toThrow();
  });

  it('counts twins the caller may not see, follows them no further, and audits what it showed and hid', async () => {
    const { token, jti } = await acme.grantToken({ partner: 'globex', scopes: ['supply:read'], selector: { kinds: ['press', 'body'] } });
    const result = await answer({ disruptions: [pressStop] }, bearer(token));
    // paint-1 is hidden; final-1, a body, lies behind it and is not reached. paint-2, hidden too, is
    // not hit: it is neither counted nor audited.
    expect(result.affected).toEqual([pressHit, bodyHit]);
    expect(result.outputs).toEqual([pressHit, bodyHit].map(output));
    expect(result.hidden).toBe(1);
    const events = (await acme.request(AUDIT, { filter: { grantJti: jti } })).data.acme.auditEvents.edges.map((edge: any) => edge.node);
    expect(events).toEqual(
      expect.arrayContaining([
        { action: 'read', twinIds: ['acme:press-1', 'acme:body-1'], allowed: true, reason: null },
        { action: 'read', twinIds: ['acme:paint-1'], allowed: false, reason: 'FORBIDDEN' },
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it('needs supply:read, and shows nothing of twins outside it: an unseen disruption is an unknown twin', async () => {
    const reader = await acme.grantToken({ partner: 'initech', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    expect(codes(await step({ disruptions: [pressStop] }, bearer(reader.token)))).toEqual(['FORBIDDEN']);
    const other = await acme.grantToken({ partner: 'initech', scopes: ['supply:read'], selector: { kinds: ['stamp'] } });
    const unseen = await step({ disruptions: [pressStop] }, bearer(other.token));
    const missing = await step({ disruptions: [{ ...pressStop, twinId: 'acme:press-9' }] }, bearer(other.token));
    expect(codes(unseen)).toEqual(['UNKNOWN_TWIN']);
    expect(unseen.errors![0]!.message).toBe(missing.errors![0]!.message.replace('press-9', 'press-1'));
    expect(codes(await step({ disruptions: [{ ...pressStop, twinId: 'globex:steel-1' }] }))).toEqual(['UNKNOWN_TWIN']);
  });

  it("refuses inputs naming the organization's own twins: their losses are computed here", async () => {
    const response = await step({ inputs: [{ supplierId: 'acme:press-1', tier: 0, loss: [{ from: at(0), to: at(10), loss: 1 }] }] });
    expect(codes(response)).toEqual(['INVALID_INPUT']);
    expect(response.errors![0]!.extensions!.field).toBe('request.inputs.0.supplierId');
  });

  it('refuses malformed and huge requests with INVALID_INPUT, answering health checks meanwhile', async () => {
    for (const bad of ['a string', [1, 2], { ...request({}), now: 'today' }, { ...request({}), until: at(-1) }, { ...request({}), modifications: undefined }]) {
      expect(codes(await acme.request(STEP, { request: bad }))).toEqual(['INVALID_INPUT']);
    }
    expect(codes(await step({ disruptions: [{ ...pressStop, capacity: 1 }] }))).toEqual(['INVALID_INPUT']);
    const backwards = await step({ disruptions: [{ ...pressStop, from: at(2), to: at(1) }] });
    expect(backwards.errors![0]!.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'request.disruptions.0.to' });
    const loss = [{ from: at(0), to: at(1), loss: 1 }];
    const inputs = Array.from({ length: 5001 }, (_, i) => ({ supplierId: `globex:t-${i}`, tier: 0, loss }));
    const { result, health } = await whileHealthChecked(acme.url, () => step({ inputs }));
    expect(codes(result)).toEqual(['INVALID_INPUT']);
    expect(result.errors![0]!.extensions!.field).toBe('request.inputs');
    expect(health).toMatchObject({ status: 200 });
  });
});
