import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateHealth, type HealthAlarmDecision, type HealthStep } from '../../../subgraphs/org/analytics/health.ts';
import { codes } from '../../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../../support/org.ts';
import { PUMP_LIVES, pumpsOf, pumpVibration } from '../../support/fleet.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;
let pumps: ReturnType<typeof pumpsOf>;

const T0 = Date.UTC(2026, 5, 1);
const HOUR_MS = 3_600_000;
/** T0 + hours. */
const time = (hours: number) => new Date(T0 + hours * HOUR_MS);

const TRAIN = `mutation($kind: String!) { acme { trainHealthModel(kind: $kind) { kind trainedAt runs failures metrics error } } }`;
const MODEL = `query($kind: String!) { acme { healthModel(kind: $kind) { trainedAt runs failures error } } }`;
const HEALTH = `query($id: ID!) { acme { twin(id: $id) { health { index p10 p50 p90 unit updatedAt modelTrainedAt } } } }`;

async function mutate(query: string, variables: Record<string, unknown>) {
  const response = await acme.request(query, variables);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data.acme;
}

/** What the ingest path does with a batch (steps of twins, in one transaction). */
function feed(steps: HealthStep[]): Promise<HealthAlarmDecision[]> {
  return acme.db.$transaction((tx) => updateHealth(tx, 'acme', steps));
}

/** Ingests pump-4's reading at an hour of its run started at `start`: the ingest path moves its health. */
async function step(hour: number, start = 0): Promise<void> {
  await acme.ingest([{ twinId: 'acme:pump-4', metric: 'vibration', at: time(hour).toISOString(), value: pumpVibration(hour - start, 0.1) }]);
}

/** pump-4's health and RUL alarms, oldest first. */
async function healthAlarms() {
  const response = await acme.request(
    `query { acme { twin(id: "acme:pump-4") { alarms(first: 50) { edges { node { cause active severity explanation } } } } } }`,
  );
  return (response.data.acme.twin.alarms.edges as { node: { cause: string; active: boolean; severity: string; explanation: Record<string, unknown> } }[])
    .map((edge) => edge.node)
    .filter((alarm) => alarm.cause === 'health' || alarm.cause === 'rul')
    .reverse();
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  pumps = pumpsOf(acme, 'acme', T0);
  for (const [id, life] of PUMP_LIVES) {
    await pumps.create(id);
    await pumps.run(id, 0, life, 5 / life);
  }
  await pumps.create('pump-4');
});
afterAll(() => disposers.dispose());

describe('health models', () => {
  it('stay absent with too little history, saying why', async () => {
    expect((await mutate(TRAIN, { kind: 'pump' })).trainHealthModel).toMatchObject({
      kind: 'pump',
      trainedAt: null,
      runs: 6,
      failures: 0,
      error: expect.any(String),
    });
    expect((await acme.request(HEALTH, { id: 'acme:pump-4' })).data.acme.twin.health).toBeNull();
  });

  it('are trained in the background once failures are recorded', async () => {
    const [[first, firstLife]] = PUMP_LIVES;
    await mutate(`mutation { acme { recordFailure(twinId: "acme:${first}", at: "${time(firstLife).toISOString()}") { at } } }`, {});
    await acme.healthTrained();
    expect((await mutate(MODEL, { kind: 'pump' })).healthModel).toMatchObject({ trainedAt: null, failures: 1, error: expect.any(String) });
    for (const [id, life] of PUMP_LIVES.slice(1)) {
      await mutate(`mutation { acme { recordFailure(twinId: "acme:${id}", at: "${time(life).toISOString()}") { at } } }`, {});
    }
    await acme.healthTrained();
    expect((await mutate(MODEL, { kind: 'pump' })).healthModel).toMatchObject({ trainedAt: expect.any(String), runs: 6, failures: 6, error: null });
  });

  it('are trained once at a time: two concurrent trainings store one model, the later one', async () => {
    const [a, b] = await Promise.all([mutate(TRAIN, { kind: 'pump' }), mutate(TRAIN, { kind: 'pump' })]);
    const trainedAt = [a.trainHealthModel.trainedAt, b.trainHealthModel.trainedAt].sort();
    expect(trainedAt[0]).not.toBe(trainedAt[1]);
    expect(await acme.db.healthModel.count({ where: { kind: 'pump' } })).toBe(1);
    expect((await mutate(MODEL, { kind: 'pump' })).healthModel.trainedAt).toBe(trainedAt[1]);
  });
});

describe('a running twin', () => {
  const decisions: HealthAlarmDecision[] = [];

  beforeAll(async () => {
    // Alarms within the pumps' short lives.
    const set = await mutate(`mutation { acme { setHealthThresholds(kind: "pump", rulHorizonHours: 10) { healthAlarmBelow rulHorizonHours } } }`, {});
    // The kind's own horizon, the organization's health threshold.
    expect(set.setHealthThresholds).toEqual({ healthAlarmBelow: 0.3, rulHorizonHours: 10 });
    await pumps.run('pump-4', 0, 10, 0.1);
  });

  it('gets health and RUL from the readings of its run as they arrive', async () => {
    decisions.push(...(await feed([{ twinId: 'pump-4', at: time(10), values: { vibration: pumpVibration(10, 0.1) } }])));
    const early = (await acme.request(HEALTH, { id: 'acme:pump-4' })).data.acme.twin.health;
    expect(early).toMatchObject({ unit: 'hours', modelTrainedAt: expect.any(String) });
    expect(early.index).toBeGreaterThan(0.6);
    expect(early.p10).toBeLessThanOrEqual(early.p50);
    expect(early.p50).toBeLessThanOrEqual(early.p90);
    expect(early.p10).toBeGreaterThan(10);
    expect(decisions).toEqual([]);
    for (let hour = 11; hour <= 45; hour += 1) await step(hour);
    const late = (await acme.request(HEALTH, { id: 'acme:pump-4' })).data.acme.twin.health;
    expect(late.index).toBeLessThan(early.index);
    expect(late.p50).toBeLessThan(early.p50);
  });

  it('raises the alarms when health falls below its threshold and p10 inside the horizon, once each', async () => {
    const alarms = await healthAlarms();
    expect(alarms.map((alarm) => [alarm.cause, alarm.active]).sort()).toEqual([
      ['health', true],
      ['rul', true],
    ]);
    const rul = alarms.find((alarm) => alarm.cause === 'rul')!;
    expect(rul).toMatchObject({ severity: expect.stringMatching(/^(HIGH|CRITICAL)$/), explanation: { threshold: 10, unit: 'hours' } });
    expect(rul.explanation.p10).toBeLessThanOrEqual(10);
  });

  it('ignores steps not newer than its last one', async () => {
    const before = await acme.db.twinHealth.findUniqueOrThrow({ where: { twinId: 'pump-4' } });
    expect(await feed([{ twinId: 'pump-4', at: time(20), values: { vibration: 100 } }])).toEqual([]);
    expect(await acme.db.twinHealth.findUniqueOrThrow({ where: { twinId: 'pump-4' } })).toMatchObject({ lastStepAt: before.lastStepAt, p50: before.p50 });
  });

  it('rebuilds a lost state from its run to the same estimate (a restart or another replica)', async () => {
    const before = await acme.db.twinHealth.findUniqueOrThrow({ where: { twinId: 'pump-4' } });
    await acme.db.$executeRaw`UPDATE "TwinHealth" SET state = 'null' WHERE "twinId" = 'pump-4'`;
    await feed([{ twinId: 'pump-4', at: time(45), values: { vibration: pumpVibration(45, 0.1) } }]);
    const after = await acme.db.twinHealth.findUniqueOrThrow({ where: { twinId: 'pump-4' } });
    expect({ ...after, updatedAt: null }).toEqual({ ...before, updatedAt: null });
  });

  it('clears its alarms when it fails, and starts a new run when repaired', async () => {
    await mutate(`mutation { acme { recordFailure(twinId: "acme:pump-4", at: "${time(46).toISOString()}") { at } } }`, {});
    await acme.healthTrained();
    const cleared = await feed([{ twinId: 'pump-4', at: time(47), values: { vibration: 6 } }]);
    expect(cleared.map((d) => [d.cause, d.active]).sort()).toEqual([
      ['health', false],
      ['rul', false],
    ]);
    expect((await acme.request(HEALTH, { id: 'acme:pump-4' })).data.acme.twin.health.index).toBeNull();
    await mutate(`mutation { acme { recordRepair(twinId: "acme:pump-4", at: "${time(48).toISOString()}") { at } } }`, {});
    for (let hour = 48; hour <= 52; hour += 1) await step(hour, 48);
    const renewed = await acme.db.twinHealth.findUniqueOrThrow({ where: { twinId: 'pump-4' } });
    expect(renewed.runStart).toEqual(time(48));
    expect(renewed.health).toBeGreaterThan(0.6);
  });

  it('is read under analytics:read only', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['pump'] } });
    const response = await acme.request(HEALTH, { id: 'acme:pump-4' }, bearer(token));
    expect(response.data.acme.twin.health).toBeNull();
    expect(codes(response)).toEqual(['FORBIDDEN']);
  });

  it('is changed only by a writer of every twin of the kind, with valid thresholds', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'twins:write'], selector: { ids: ['acme:pump-1'] } });
    expect(codes(await acme.request(TRAIN, { kind: 'pump' }, bearer(token)))).toEqual(['FORBIDDEN']);
    const thresholds = `mutation($below: Float) { acme { setHealthThresholds(kind: "pump", healthAlarmBelow: $below) { healthAlarmBelow } } }`;
    expect(codes(await acme.request(thresholds, { below: 0.5 }, bearer(token)))).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(thresholds, { below: 1.5 }))).toEqual(['INVALID_INPUT']);
  });

  it('leaves twins of kinds with no model alone', async () => {
    await acme.createTwin({ id: 'acme:fan-1', name: 'Fan', kind: 'fan', metrics: [{ name: 'vibration', unit: 'mm/s' }] });
    expect(await feed([{ twinId: 'fan-1', at: time(1), values: { vibration: 1 } }])).toEqual([]);
    expect(await acme.db.twinHealth.count({ where: { twinId: 'fan-1' } })).toBe(0);
  });
});
