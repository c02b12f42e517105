import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImpactStepAnswer } from '../../../lib/impact/types.ts';
import { codes } from '../../support/graphql.ts';
import { startOrg, type TestOrg } from '../../support/org.ts';
import { PUMP_LIVES, pumpsOf } from '../../support/fleet.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 1);
/** T0 + hours. */
const time = (hours: number) => new Date(T0 + hours * HOUR).toISOString();
/** When the questions are asked: a day into pump-4's current run. */
const NOW = T0 + 24 * HOUR;

const STEP = `query($request: JSON!) { acme { impactStep(request: $request) } }`;
const HEALTH = `query($id: ID!) { acme { twin(id: $id) { health { p10 p50 p90 } } } }`;

async function mutate(query: string) {
  const response = await acme.request(query);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
}

/** A hop asking for a predicted failure of one twin. */
function predict(twinId: string, hours?: number) {
  const disruption = { twinId, capacity: 0, predicted: true, ...(hours === undefined ? {} : { hours }) };
  const request = {
    now: NOW,
    until: NOW + 30 * 24 * HOUR,
    disruptions: [disruption],
    inputs: [],
    modifications: { alternates: [], extraStock: [], leadTimes: [] },
  };
  return acme.request<{ acme: { impactStep: ImpactStepAnswer } }>(STEP, { request });
}

async function rulOf(id: string): Promise<{ p10: number; p50: number; p90: number }> {
  return (await acme.request(HEALTH, { id })).data.acme.twin.health;
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  const { create: pump, run } = pumpsOf(acme, 'acme', T0);
  // Six pumps run to failure after 40 to 60 hours: the kind's health model.
  for (const [id, life] of PUMP_LIVES) {
    await pump(id);
    await run(id, -100, life, 5 / life);
    await mutate(`mutation { acme { recordFailure(twinId: "acme:${id}", at: "${time(-100 + life)}") { at } } }`);
  }
  // pump-4 failed once and took 4 hours to repair; pump-8 has never failed. Their current runs
  // are read by the trained model as they are ingested.
  await pump('pump-4');
  await mutate(`mutation { acme { recordFailure(twinId: "acme:pump-4", at: "${time(-10)}") { at } } }`);
  await mutate(`mutation { acme { recordRepair(twinId: "acme:pump-4", at: "${time(-6)}") { at } } }`);
  await acme.healthTrained();
  await run('pump-4', 0, 20, 0.1);
  await pump('pump-8');
  await run('pump-8', 0, 20, 0.08);
  await pump('pump-9');
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press' });
});
afterAll(() => disposers.dispose());

describe('a predicted disruption', () => {
  it("starts at the twin's median remaining life, spread by its p10–p90, and lasts its mean time to repair", async () => {
    const rul = await rulOf('acme:pump-4');
    expect(rul.p50).toBeGreaterThan(0);
    const response = await predict('acme:pump-4', 6);
    const from = Math.round(NOW + rul.p50 * HOUR);
    expect(response.data!.acme.impactStep.disruptions).toEqual([
      { twinId: 'acme:pump-4', from, to: from + 4 * HOUR, capacity: 0, predicted: true, spreadHours: (rul.p90 - rul.p10) / 2.5631 },
    ]);
  });

  it('lasts the hours asked, else a day, without a repair on record', async () => {
    const rul = await rulOf('acme:pump-8');
    const from = Math.round(NOW + rul.p50 * HOUR);
    expect((await predict('acme:pump-8', 6)).data!.acme.impactStep.disruptions[0]).toMatchObject({ from, to: from + 6 * HOUR });
    expect((await predict('acme:pump-8')).data!.acme.impactStep.disruptions[0]).toMatchObject({ from, to: from + 24 * HOUR });
  });

  it('is refused for a twin without a remaining life predicted', async () => {
    for (const twinId of ['acme:press-1', 'acme:pump-9']) {
      const response = await predict(twinId);
      expect(codes(response)).toEqual(['INVALID_INPUT']);
      expect(response.errors![0]!.extensions!.field).toBe('request.disruptions.0.predicted');
    }
  });
});
