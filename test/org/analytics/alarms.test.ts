// Alarms end to end on real PostgreSQL and NATS: raised by the range rule and by the detector as
// readings are ingested, one per cause, cleared with hysteresis, acknowledged, assigned,
// commented (who and when), closed, escalated; and what callers may not do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twinAlarmEventSchema, type TwinAlarmEvent } from '../../../lib/events.ts';
import { natsNames } from '../../../lib/nats.ts';
import { anomalyThreshold } from '../../../subgraphs/org/analytics/anomaly.ts';
import { codes } from '../../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const START = Date.UTC(2026, 0, 1);
const at = (minute: number) => new Date(START + minute * 60_000).toISOString();

const ALARM_FIELDS = `id twinId cause severity state active acknowledged explanation acknowledgedBy assignee escalation clearedAt closedAt history { action by at text }`;
const ALARMS = `query($id: ID!, $states: [AlarmState!]) { acme { twin(id: $id) { alarms(states: $states) { edges { node { ${ALARM_FIELDS} } } } } } }`;
const ACK = `mutation($id: ID!, $comment: String) { acme { acknowledgeAlarm(id: $id, comment: $comment) { ${ALARM_FIELDS} } } }`;
const ASSIGN = `mutation($id: ID!, $assignee: String) { acme { assignAlarm(id: $id, assignee: $assignee) { ${ALARM_FIELDS} } } }`;
const COMMENT = `mutation($id: ID!, $text: String!) { acme { commentAlarm(id: $id, text: $text) { ${ALARM_FIELDS} } } }`;

async function alarms(twinId: string, states?: string[], headers?: Record<string, string>) {
  const response = await acme.request(ALARMS, { id: twinId, states }, headers);
  expect(response.errors).toBeUndefined();
  return response.data.acme.twin.alarms.edges.map((edge: any) => edge.node);
}

async function mutate(query: string, variables: Record<string, unknown>, headers?: Record<string, string>) {
  const response = await acme.request(query, variables, headers);
  expect(response.errors).toBeUndefined();
  return Object.values(response.data.acme)[0] as any;
}

function temperature(twin: string, minute: number, value: number) {
  return acme.ingest([{ twinId: `acme:${twin}`, metric: 'temperature', at: at(minute), value }]);
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  for (const id of ['m-1', 'm-2', 'm-3']) {
    await acme.createTwin({
      id: `acme:${id}`,
      name: id,
      kind: 'press',
      metrics: [
        { name: 'temperature', unit: 'C', min: 0, max: 100 },
        { name: 'vibration', unit: 'mm/s' },
      ],
    });
  }
});
afterAll(() => disposers.dispose());

describe('alarm lifecycle', () => {
  let first: any;

  it('the range rule raises one alarm per cause while it lasts, with its explanation', async () => {
    await temperature('m-1', 0, 50);
    await temperature('m-1', 1, 120);
    await temperature('m-1', 2, 130);
    const [alarm, ...others] = await alarms('acme:m-1');
    expect(others).toEqual([]);
    expect(alarm).toMatchObject({
      twinId: 'acme:m-1',
      cause: 'range:temperature',
      severity: 'HIGH',
      state: 'ACTIVE_UNACKNOWLEDGED',
      explanation: { rule: 'range', value: 120, min: 0, max: 100, limit: 100, at: at(1) },
    });
    first = alarm;
  });

  it('clears with hysteresis: back inside by the deadband (2% of the range), not at the limit', async () => {
    await temperature('m-1', 3, 99);
    expect((await alarms('acme:m-1'))[0].state).toBe('ACTIVE_UNACKNOWLEDGED');
    await temperature('m-1', 4, 97);
    expect((await alarms('acme:m-1'))[0]).toMatchObject({ id: first.id, state: 'CLEARED_UNACKNOWLEDGED', active: false });
  });

  it('a cleared, unacknowledged alarm comes back as the same alarm', async () => {
    await temperature('m-1', 5, 150);
    expect(await alarms('acme:m-1')).toMatchObject([{ id: first.id, state: 'ACTIVE_UNACKNOWLEDGED' }]);
  });

  it('acknowledged with a comment, assigned and commented, each with who and when; cleared and acknowledged is closed', async () => {
    const acked = await mutate(ACK, { id: first.id, comment: 'crew on the way' });
    expect(acked).toMatchObject({ state: 'ACTIVE_ACKNOWLEDGED', acknowledged: true, acknowledgedBy: 'member:test-admin' });
    // Acknowledging again changes nothing.
    expect((await mutate(ACK, { id: first.id })).history).toEqual(acked.history);
    const operator = bearer(await acme.memberToken('operator', 'olga'));
    expect(await mutate(ASSIGN, { id: first.id, assignee: 'maintenance' }, operator)).toMatchObject({ assignee: 'maintenance' });
    await mutate(COMMENT, { id: first.id, text: 'seal replaced' }, operator);
    await temperature('m-1', 6, 50);
    const [closed] = await alarms('acme:m-1', ['CLOSED']);
    expect(closed).toMatchObject({ id: first.id, state: 'CLOSED', active: false, acknowledged: true });
    expect(closed.closedAt).not.toBeNull();
    expect(closed.history.map((entry: any) => [entry.action, entry.by, entry.text])).toEqual([
      ['RAISED', 'system', null],
      ['CLEARED', 'system', null],
      ['REACTIVATED', 'system', null],
      ['ACKNOWLEDGED', 'member:test-admin', 'crew on the way'],
      ['ASSIGNED', 'member:olga', 'maintenance'],
      ['COMMENTED', 'member:olga', 'seal replaced'],
      ['CLEARED', 'system', null],
    ]);
    const times = closed.history.map((entry: any) => Date.parse(entry.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('the cause coming back after the alarm closed raises a new alarm', async () => {
    await temperature('m-1', 7, 140);
    const open = await alarms('acme:m-1', ['ACTIVE_UNACKNOWLEDGED']);
    expect(open).toHaveLength(1);
    expect(open[0].id).not.toBe(first.id);
    expect(await alarms('acme:m-1')).toHaveLength(2);
    // Newest first, a page at a time.
    const page = `query($after: String) { acme { twin(id: "acme:m-1") { alarms(first: 1, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } } }`;
    const one = (await acme.request(page)).data.acme.twin.alarms;
    expect(one).toMatchObject({ edges: [{ node: { id: open[0].id } }], pageInfo: { hasNextPage: true } });
    const two = (await acme.request(page, { after: one.pageInfo.endCursor })).data.acme.twin.alarms;
    expect(two).toMatchObject({ edges: [{ node: { id: first.id } }], pageInfo: { hasNextPage: false } });
  });

  it('the detector raises an anomaly alarm on a spike after a calm stretch, and clears it after calm readings', async () => {
    const calm = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ twinId: 'acme:m-2', metric: 'vibration', at: at(from + i), value: 1 + Math.sin((from + i) * 1.3) * 0.05 }));
    await acme.ingest(calm(0, 100));
    await acme.ingest([{ twinId: 'acme:m-2', metric: 'vibration', at: at(100), value: 50 }]);
    const [raised] = await alarms('acme:m-2');
    expect(raised).toMatchObject({ cause: 'anomaly:vibration', state: 'ACTIVE_UNACKNOWLEDGED', explanation: { value: 50, at: at(100) } });
    expect(raised.explanation.score).toBeGreaterThanOrEqual(raised.explanation.threshold);
    expect(raised.explanation.baseline).toBeCloseTo(1, 0);
    expect(raised.explanation.spread).toBeGreaterThan(0);
    expect(typeof raised.explanation.detector).toBe('string');

    const anomalies = await acme.request(
      `query { acme { twin(id: "acme:m-2") { anomalies(metric: "vibration", minScore: 0.5) { edges { node { at score } } } } } }`,
    );
    expect(anomalies.data.acme.twin.anomalies.edges.map((edge: any) => edge.node.at)).toEqual([at(100)]);

    await acme.ingest(calm(101, 3));
    expect((await alarms('acme:m-2'))[0].state).toBe('ACTIVE_UNACKNOWLEDGED');
    await acme.ingest(calm(104, 5));
    expect((await alarms('acme:m-2'))[0]).toMatchObject({ id: raised.id, state: 'CLEARED_UNACKNOWLEDGED' });
  });

  it('announces every change as an alarm event in the outbox', async () => {
    const rows = await acme.db.outboxEvent.findMany({ where: { subject: { endsWith: '.alarm' } }, orderBy: { id: 'asc' } });
    const events = rows.map((row) => twinAlarmEventSchema.parse(row.payload));
    const ofFirst = events.filter((event) => event.alarm.id === first.id);
    expect(ofFirst.map((event) => event.change)).toEqual(['raised', 'cleared', 'reactivated', 'acknowledged', 'assigned', 'commented', 'cleared']);
    expect(rows.every((row) => row.subject.startsWith('events.acme.m-'))).toBe(true);
    expect(ofFirst.at(-1)).toMatchObject({ type: 'alarm', org: 'acme', twinId: 'acme:m-1', kind: 'press', alarm: { state: 'CLOSED' } });
  });
});

describe('what callers may not do to alarms', () => {
  let id: string;

  beforeAll(async () => {
    await temperature('m-3', 0, 500);
    [{ id }] = await alarms('acme:m-3');
  });

  it('an unknown or malformed alarm id is NOT_FOUND', async () => {
    expect(codes(await acme.request(ACK, { id: '6b1f7c1e-0000-4000-8000-000000000000' }))).toEqual(['NOT_FOUND']);
    expect(codes(await acme.request(COMMENT, { id: 'x'.repeat(10_000), text: 'hi' }))).toEqual(['NOT_FOUND']);
  });

  it("a partner's alarm of a twin outside its grant is NOT_FOUND, inside it is acknowledged", async () => {
    const other = await acme.grantToken({ partner: 'globex', scopes: ['alarms:write', 'analytics:read'], selector: { ids: ['acme:m-1'] } });
    const viewer = bearer(other.token);
    expect(codes(await acme.request(ACK, { id }, viewer))).toEqual(['NOT_FOUND']);
    const own = await acme.grantToken({ partner: 'globex', scopes: ['alarms:write'], selector: { ids: ['acme:m-3'] } });
    expect((await mutate(ACK, { id }, bearer(own.token))).acknowledgedBy).toBe('partner:globex');
  });

  it('a comment or assignee too long, or empty, is INVALID_INPUT', async () => {
    expect(codes(await acme.request(COMMENT, { id, text: 'x'.repeat(2001) }))).toEqual(['INVALID_INPUT']);
    expect(codes(await acme.request(COMMENT, { id, text: '  ' }))).toEqual(['INVALID_INPUT']);
    expect(codes(await acme.request(ACK, { id, comment: 'x'.repeat(100_000) }))).toEqual(['INVALID_INPUT']);
    expect(codes(await acme.request(ASSIGN, { id, assignee: 'x'.repeat(201) }))).toEqual(['INVALID_INPUT']);
  });

  it('without alarms:write, changing is FORBIDDEN; without analytics:read, reading alarms is FORBIDDEN', async () => {
    const telemetryOnly = bearer(
      (await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'telemetry:read'], selector: { ids: ['acme:m-3'] } })).token,
    );
    expect(codes(await acme.request(COMMENT, { id, text: 'hi' }, telemetryOnly))).toEqual(['FORBIDDEN']);
    const response = await acme.request(ALARMS, { id: 'acme:m-3' }, telemetryOnly);
    expect(codes(response)).toEqual(['FORBIDDEN']);
    expect(response.data.acme.twin.alarms).toBeNull();
  });
});

describe('analytics settings', () => {
  const SET = `mutation($input: AnalyticsSettingsInput!) { acme { setAnalyticsSettings(input: $input) { kind twinId metric sensitivity escalateAfterSeconds } } }`;

  it("sets a metric's sensitivity, which the detector's threshold then follows, and a kind's", async () => {
    expect(await mutate(SET, { input: { twinId: 'acme:m-3', metric: 'vibration', sensitivity: 0.9 } })).toEqual({
      kind: null,
      twinId: 'acme:m-3',
      metric: 'vibration',
      sensitivity: 0.9,
      escalateAfterSeconds: null,
    });
    await acme.ingest(Array.from({ length: 100 }, (_, i) => ({ twinId: 'acme:m-3', metric: 'vibration', at: at(i), value: 1 + Math.sin(i * 1.3) * 0.05 })));
    await acme.ingest([{ twinId: 'acme:m-3', metric: 'vibration', at: at(100), value: 80 }]);
    const [alarm] = (await alarms('acme:m-3', ['ACTIVE_UNACKNOWLEDGED'])).filter((a: { cause: string }) => a.cause === 'anomaly:vibration');
    expect(alarm.explanation).toMatchObject({ value: 80, threshold: anomalyThreshold({ sensitivity: 0.9 }) });

    expect(await mutate(SET, { input: { kind: 'press', sensitivity: 0.2, escalateAfterSeconds: 60 } })).toMatchObject({
      kind: 'press',
      escalateAfterSeconds: 60,
    });
    expect(await acme.db.kindAnalytics.findUniqueOrThrow({ where: { kind: 'press' } })).toMatchObject({ sensitivity: 0.2, escalateAfterSeconds: 60 });
  });

  it('refuses ambiguous or out-of-range settings, unknown metrics, and a kind to a partner reaching only some twins', async () => {
    const refused = async (input: Record<string, unknown>, headers?: Record<string, string>) => codes(await acme.request(SET, { input }, headers));
    expect(await refused({ kind: 'press', twinId: 'acme:m-1', metric: 'temperature' })).toEqual(['INVALID_INPUT']);
    expect(await refused({ twinId: 'acme:m-1', metric: 'temperature', escalateAfterSeconds: 5 })).toEqual(['INVALID_INPUT']);
    expect(await refused({ kind: 'press', sensitivity: 2 })).toEqual(['INVALID_INPUT']);
    expect(await refused({ twinId: 'acme:m-1', metric: 'pressure' })).toEqual(['UNKNOWN_METRIC']);
    const writer = bearer((await acme.grantToken({ partner: 'globex', scopes: ['twins:write'], selector: { ids: ['acme:m-1'] } })).token);
    expect(await refused({ kind: 'press', sensitivity: 1 }, writer)).toEqual(['FORBIDDEN']);
  });
});

describe('escalation', () => {
  it('raises the level of an alarm left unacknowledged past the configured time, and announces it', async () => {
    const fast = await startOrg(disposers, 'fast', { alarmEscalateAfterSeconds: 1 });
    await fast.createTwin({ id: 'fast:k-1', name: 'k', kind: 'kiln', metrics: [{ name: 'temperature', unit: 'C', max: 10 }] });
    const names = natsNames(fast.subjectPrefix);
    const subscription = fast.nats.subscribe(names.eventSubject('fast', 'k-1', 'alarm'));
    disposers.add(async () => subscription.unsubscribe());
    await fast.ingest([{ twinId: 'fast:k-1', metric: 'temperature', at: at(0), value: 99 }]);
    const changes: TwinAlarmEvent['change'][] = [];
    let escalated: TwinAlarmEvent | undefined;
    for await (const message of subscription) {
      const event = twinAlarmEventSchema.parse(message.json());
      changes.push(event.change);
      if (event.change === 'escalated') {
        escalated = event;
        break;
      }
    }
    expect(changes).toEqual(['raised', 'escalated']);
    expect(escalated!.alarm).toMatchObject({ escalation: 1, state: 'ACTIVE_UNACKNOWLEDGED', cause: 'range:temperature' });
    const history = await fast.db.alarmHistory.findMany({ where: { alarmId: escalated!.alarm.id }, orderBy: { id: 'asc' } });
    expect(history.map((entry) => [entry.action, entry.by])).toEqual([
      ['raised', 'system'],
      ['escalated', 'system'],
    ]);
  });
});
