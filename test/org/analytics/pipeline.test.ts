// Analysis in the ingest path, on real PostgreSQL: each reading analysed exactly once, in time
// order per series, whatever the retries, late readings, restarts and concurrent batches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';
import { Access, unrestricted } from '../../../subgraphs/org/access.ts';
import { newDetectorState, scoreReading, type DetectorState } from '../../../subgraphs/org/analytics/anomaly.ts';
import type { OrgBase } from '../../../subgraphs/org/context.ts';
import { startOrgSubgraph } from '../../../subgraphs/org/main.ts';
import { orgNames } from '../../../subgraphs/org/names.ts';
import { DEFAULT_LIMITS } from '../../../subgraphs/org/server.ts';
import { ingestReadings } from '../../../subgraphs/org/telemetry/ingest.ts';
import { graphql } from '../../support/graphql.ts';
import { bearer, KEY_SECRET, startOrg, type TestOrg } from '../../support/org.ts';
import { Disposers } from '../../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;
let globex: TestOrg;

const START = Date.UTC(2026, 0, 1);

/** Readings of one series, one a minute from `from`: noise around 50 (deterministic), and a huge spike at `spikeAt`. */
function readings(org: string, twin: string, from: number, count: number, spikeAt = -1) {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return {
      twinId: `${org}:${twin}`,
      metric: 'flow',
      at: new Date(START + n * 60_000).toISOString(),
      value: n === spikeAt ? 5000 : 50 + Math.sin(n * 1.7) * 2,
    };
  });
}

/** What the NATS device consumer passes: a device principal. */
function deviceBase(org: TestOrg): OrgBase {
  return {
    names: orgNames(org.org),
    db: org.db,
    access: new Access(unrestricted('device', 'devices', ['telemetry:write']), org.org),
    limits: DEFAULT_LIMITS,
  };
}

async function createTwin(org: TestOrg, id: string) {
  await org.createTwin({ id: `${org.org}:${id}`, name: id, kind: 'pump', metrics: [{ name: 'flow', unit: 'l/min' }] });
}

async function analysis(org: TestOrg, twinId: string) {
  return org.db.seriesAnalysis.findUniqueOrThrow({ where: { twinId_metric: { twinId, metric: 'flow' } } });
}

async function scores(org: TestOrg, twinId: string) {
  const rows = await org.db.reading.findMany({ where: { twinId, metric: 'flow' }, orderBy: { at: 'asc' }, select: { at: true, anomalyScore: true } });
  return rows.map((row) => ({ at: row.at.toISOString(), score: row.anomalyScore }));
}

async function alarms(org: TestOrg, twinId: string) {
  const rows = await org.db.alarm.findMany({ where: { twinId }, orderBy: { raisedAt: 'asc' } });
  return rows.map((alarm) => ({ cause: alarm.cause, active: alarm.active, severity: alarm.severity, explanation: alarm.explanation }));
}

beforeAll(async () => {
  [acme, globex] = await Promise.all([startOrg(disposers, 'acme'), startOrg(disposers, 'globex')]);
});
afterAll(() => disposers.dispose());

describe('analysis in the ingest path', () => {
  it('scores every reading once: a batch sent again is not analysed again', async () => {
    await createTwin(acme, 'p-1');
    const batch = readings('acme', 'p-1', 0, 60, 59);
    expect(await ingestReadings(deviceBase(acme), batch)).toMatchObject({ accepted: 60 });
    const first = { analysis: await analysis(acme, 'p-1'), scores: await scores(acme, 'p-1') };
    expect((JSON.parse(first.analysis.state) as DetectorState).n).toBe(60);
    expect(first.analysis.lastAt?.toISOString()).toBe(batch[59]!.at);
    expect(first.scores.every((s) => s.score !== null)).toBe(true);
    // The spike after a long calm stretch is what any sensible detector flags.
    expect(first.scores[59]!.score).toBeGreaterThan(0.9);
    expect(await alarms(acme, 'p-1')).toMatchObject([{ cause: 'anomaly:flow', active: true }]);

    expect(await ingestReadings(deviceBase(acme), batch)).toMatchObject({ accepted: 0, duplicates: 60 });
    expect(await analysis(acme, 'p-1')).toEqual(first.analysis);
    expect(await scores(acme, 'p-1')).toEqual(first.scores);
    expect(await alarms(acme, 'p-1')).toHaveLength(1);
  });

  it('stores a late reading with no score and leaves the state as it was', async () => {
    const before = await analysis(acme, 'p-1');
    const late = { twinId: 'acme:p-1', metric: 'flow', at: new Date(START + 30.5 * 60_000).toISOString(), value: 9999 };
    expect(await ingestReadings(deviceBase(acme), [late])).toMatchObject({ accepted: 1 });
    expect(await acme.db.reading.findUniqueOrThrow({ where: { twinId_metric_at: { twinId: 'p-1', metric: 'flow', at: new Date(late.at) } } })).toMatchObject({
      value: 9999,
      anomalyScore: null,
    });
    expect(await analysis(acme, 'p-1')).toEqual(before);
  });

  it('gives the same scores and alarms after a restart in the middle of a stream as without one', async () => {
    await Promise.all([createTwin(acme, 'p-2'), createTwin(globex, 'p-2')]);
    const stream = (org: string) => readings(org, 'p-2', 0, 200, 150);
    const ingest = `mutation($r: [ReadingInput!]!) { ORG { ingestTelemetry(readings: $r) { accepted } } }`;
    const send = async (url: string, org: TestOrg, from: number, to: number) => {
      for (let i = from; i < to; i += 25) {
        const response = await graphql(url, ingest.replace('ORG', org.org), { r: stream(org.org).slice(i, i + 25) }, bearer(org.adminToken));
        expect(response.errors).toBeUndefined();
      }
    };
    await send(globex.url, globex, 0, 200);

    await send(acme.url, acme, 0, 100);
    await acme.stop();
    const restarted = await startOrgSubgraph(
      { org: 'acme', databaseUrl: acme.databaseUrl, keySecret: KEY_SECRET, subjectPrefix: acme.subjectPrefix, port: 0, host: '127.0.0.1', poolSize: 2 },
      acme.nats,
      createLogger('test', 'silent'),
    );
    disposers.add(restarted.stop);
    await send(restarted.subgraph.url, acme, 100, 200);

    const uninterrupted = await scores(globex, 'p-2');
    expect(uninterrupted.filter((s) => s.score !== null)).toHaveLength(200);
    expect(await scores(acme, 'p-2')).toEqual(uninterrupted);
    const raised = await alarms(globex, 'p-2');
    expect(raised.length).toBeGreaterThan(0);
    expect(await alarms(acme, 'p-2')).toEqual(raised);
  });

  it('serializes concurrent batches of one series: the state is that of the readings it analysed, in time order', async () => {
    await createTwin(globex, 'p-3');
    const batches = Array.from({ length: 8 }, (_, b) => readings('globex', 'p-3', b * 20, 20));
    const results = await Promise.all(batches.map((batch) => ingestReadings(deviceBase(globex), batch)));
    expect(results.reduce((sum, result) => sum + result.accepted, 0)).toBe(160);

    // Replaying exactly the readings that were analysed, in time order, gives the same scores and state.
    const stored = await globex.db.reading.findMany({ where: { twinId: 'p-3', metric: 'flow' }, orderBy: { at: 'asc' } });
    const analysed = stored.filter((reading) => reading.anomalyScore !== null);
    expect(analysed.length).toBeGreaterThanOrEqual(20);
    const state = newDetectorState();
    for (const reading of analysed) expect(scoreReading(state, reading.at.getTime(), reading.value).score).toBe(reading.anomalyScore);
    const kept = await analysis(globex, 'p-3');
    expect(JSON.parse(kept.state)).toEqual(state);
    expect(kept.lastAt).toEqual(analysed.at(-1)!.at);
    // Readings older than what another batch had committed are stored, never analysed out of order.
    for (const reading of stored.filter((r) => r.anomalyScore === null)) expect(reading.at.getTime()).toBeLessThan(kept.lastAt!.getTime());
  });
});
