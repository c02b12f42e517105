import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_REPORT_LIMITS, type AccessReport, type AccessReportEntry } from '../../lib/events.ts';
import { natsNames } from '../../lib/nats.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
});
afterAll(() => disposers.dispose());

const AUDIT = `query($filter: AuditFilter) { acme { auditEvents(filter: $filter, first: 500) {
  edges { node { at lastAt count partner grantJtis action operation twinIds allowed reason source claimsVerified } } } } }`;

async function audited(partner: string): Promise<any[]> {
  const response = await acme.request(AUDIT, { filter: { partner } });
  expect(response.errors).toBeUndefined();
  return response.data.acme.auditEvents.edges.map((edge: any) => edge.node);
}

function entry(partner: string, overrides: Partial<AccessReportEntry> = {}): AccessReportEntry {
  return {
    partner,
    grantJtis: ['g-1'],
    action: 'deliver',
    twinIds: ['acme:press-1', 'acme:press-2'],
    allowed: true,
    reason: null,
    claimsVerified: true,
    count: 12,
    firstAt: '2026-01-01T00:00:00.000Z',
    lastAt: '2026-01-01T00:00:05.000Z',
    ...overrides,
  };
}

function report(entries: AccessReportEntry[], reportId = randomUUID()): AccessReport {
  return { reportId, gateway: 'gw-1', entries };
}

/** Publishes as a gateway does: the report id is the message id, so JetStream drops a copy sent again soon. */
function publish(payload: AccessReport | string, msgID?: string) {
  const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return jetstream(acme.nats).publish(natsNames(acme.subjectPrefix).accessReportSubject('acme'), data, msgID ? { msgID } : {});
}

/** Publishes a good report for `partner` after what was published before, and waits until it is recorded: the consumer handles reports in order. */
async function drained(partner: string): Promise<void> {
  await publish(report([entry(partner)]));
  await eventually(async () => expect(await audited(partner)).toHaveLength(1));
}

describe('access reports from gateways', () => {
  it('records each entry of a report in the audit log, with its count, first and last time, and the gateway as source', async () => {
    const refused = entry('globex', {
      action: 'authenticate',
      twinIds: [],
      allowed: false,
      reason: 'EXPIRED',
      claimsVerified: false,
      count: 3,
      grantJtis: ['g-old'],
    });
    const sent = report([entry('globex'), refused]);
    await publish(sent, sent.reportId);
    await eventually(async () => expect(await audited('globex')).toHaveLength(2));
    expect(await audited('globex')).toEqual([
      {
        at: '2026-01-01T00:00:00.000Z',
        lastAt: '2026-01-01T00:00:05.000Z',
        count: 3,
        partner: 'globex',
        grantJtis: ['g-old'],
        action: 'authenticate',
        operation: null,
        twinIds: [],
        allowed: false,
        reason: 'EXPIRED',
        source: 'gateway:gw-1',
        claimsVerified: false,
      },
      {
        at: '2026-01-01T00:00:00.000Z',
        lastAt: '2026-01-01T00:00:05.000Z',
        count: 12,
        partner: 'globex',
        grantJtis: ['g-1'],
        action: 'deliver',
        operation: null,
        twinIds: ['acme:press-1', 'acme:press-2'],
        allowed: true,
        reason: null,
        source: 'gateway:gw-1',
        claimsVerified: true,
      },
    ]);
  });

  it('records a report sent twice once: soon after (JetStream drops the copy) or later (the store knows its id)', async () => {
    const sent = report([entry('initech')]);
    await publish(sent, sent.reportId);
    expect((await publish(sent, sent.reportId)).duplicate).toBe(true);
    // Past JetStream's dedupe window, or delivered again after a lost acknowledgement.
    expect((await publish(sent)).duplicate).toBe(false);
    await drained('umbrella');
    expect(await audited('initech')).toHaveLength(1);
  });

  it('refuses malformed, oversized and foreign reports, acknowledged, without harm to the next good one', async () => {
    const before = await acme.db.auditEvent.count();
    const many = report(Array.from({ length: ACCESS_REPORT_LIMITS.entries + 1 }, () => entry('mallory', { twinIds: [] })));
    expect(JSON.stringify(many).length).toBeLessThan(ACCESS_REPORT_LIMITS.bytes);
    const refused: (AccessReport | string)[] = [
      '{not json',
      JSON.stringify({ reportId: 'x', entries: [] }),
      many,
      report([entry('mallory', { partner: 'm'.repeat(10_000) })]),
      report([entry('mallory', { grantJtis: Array.from({ length: 17 }, (_, i) => `g-${i}`) })]),
      report([entry('mallory', { twinIds: ['globex:mill-1'] })]),
      report([entry('mallory', { action: 'read' as 'deliver' })]),
      report([entry('mallory', { count: 0 })]),
      report([entry('mallory', { lastAt: '2025-12-31T00:00:00Z' })]),
    ];
    for (const payload of refused) await publish(payload);
    // Larger than a report may be: the stream itself refuses it.
    await expect(publish(report([entry('mallory', { reason: 'x'.repeat(ACCESS_REPORT_LIMITS.bytes) })]))).rejects.toThrow();
    await drained('hooli');
    expect(await audited('mallory')).toEqual([]);
    expect(await acme.db.auditEvent.count()).toBe(before + 1);
  });
});
