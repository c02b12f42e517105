import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chanceWithin } from '../../lib/impact/chance.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { PUMP_LIVES, pumpsOf } from '../support/fleet.ts';
import { Disposers } from '../support/services.ts';

/**
 * The chance that a predicted failure at a supplier stops a customer's line within the horizon:
 * initech's pump-4 (its kind's health model trained on six pumps run to failure, 4 h to repair on
 * record) supplies acme's line-1, 2 h away, without a buffer.
 */

const HOUR = 3_600_000;
const disposers = new Disposers();
let net: TestNetwork;
let engineer: Record<string, string>;
/** Whence the readings' times count: five days ago. */
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 120 * HOUR;
const time = (hours: number) => new Date(T0 + hours * HOUR).toISOString();

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'initech']);
  const initech = net.orgs.initech!;
  const mutate = async (query: string) => expect((await initech.request(query)).errors).toBeUndefined();
  const { create: pump, run } = pumpsOf(initech, 'initech', T0);
  for (const [id, life] of PUMP_LIVES) {
    await pump(id);
    await run(id, 0, life, 5 / life);
    await mutate(`mutation { initech { recordFailure(twinId: "initech:${id}", at: "${time(life)}") { at } } }`);
  }
  await pump('pump-4');
  await mutate(`mutation { initech { recordFailure(twinId: "initech:pump-4", at: "${time(90)}") { at } } }`);
  await mutate(`mutation { initech { recordRepair(twinId: "initech:pump-4", at: "${time(94)}") { at } } }`);
  await initech.healthTrained();
  await run('pump-4', 100, 20, 0.1);
  await net.orgs.acme!.createTwin({
    id: 'acme:line-1',
    name: 'Line 1',
    kind: 'line',
    suppliedByIds: ['initech:pump-4'],
    supply: [{ supplierId: 'initech:pump-4', leadTimeHours: 2 }],
  });
  await initech.eventsPublished();
  await net.orgs.acme!.eventsPublished();
  await net.catalogHas(['acme:line-1', ...['pump-1', 'pump-2', 'pump-3', 'pump-4', 'pump-5', 'pump-6', 'pump-7'].map((id) => `initech:${id}`)]);
  const grant = await initech.grantToken({ partner: 'acme', scopes: ['twins:read', 'supply:read', 'analytics:read'], selector: { kinds: ['pump'] } });
  engineer = bearer(await net.orgs.acme!.memberToken('viewer', 'engineer'), [grant.token]);
});
afterAll(() => disposers.dispose());

describe('impact of a predicted failure', () => {
  it('gives the chance that each twin downstream is hit within the horizon', async () => {
    const health = await net.orgs.initech!.request(`{ initech { twin(id: "initech:pump-4") { health { p50 } } } }`);
    const p50 = health.data.initech.twin.health.p50;
    expect(p50).toBeGreaterThan(0);
    // Till 3 h after the median failure: the line, 2 h downstream, is hit within it if the pump fails less than 1 h late.
    const horizonHours = p50 + 3;
    const asked = Date.now();
    const response = await net.query(
      `query($horizon: Float) { impact(of: { twinId: "initech:pump-4", predicted: true }, horizonHours: $horizon) {
        disruptions { twinId from to predicted spreadHours } affected { twinId from chance } } }`,
      { horizon: horizonHours },
      engineer,
    );
    expect(response.errors).toBeUndefined();
    const [disruption] = response.data.impact.disruptions;
    expect(disruption).toMatchObject({ twinId: 'initech:pump-4', predicted: true });
    expect(Date.parse(disruption.to) - Date.parse(disruption.from)).toBe(4 * HOUR);
    expect(disruption.spreadHours).toBeGreaterThan(0);
    const [pump, line] = response.data.impact.affected;
    expect([pump.twinId, line.twinId]).toEqual(['initech:pump-4', 'acme:line-1']);
    expect(Date.parse(line.from) - Date.parse(pump.from)).toBe(2 * HOUR);
    // As the gateway computes it, from when it was asked (within this test's milliseconds).
    const resolved = { ...disruption, from: Date.parse(disruption.from), to: Date.parse(disruption.to), capacity: 0 };
    const expected = (delayMs: number) => chanceWithin(resolved, delayMs, asked, asked + horizonHours * HOUR);
    expect(pump.chance).toBeCloseTo(expected(0), 3);
    expect(line.chance).toBeCloseTo(expected(2 * HOUR), 3);
    expect(0 < line.chance && line.chance < pump.chance && pump.chance < 1).toBe(true);
  });
});
