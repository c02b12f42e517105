import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../lib/db/store.ts';
import { PrismaClient } from '../../prisma/generated/org/client.ts';
import { Access, unrestricted } from '../../subgraphs/org/access.ts';
import { partnerPrincipal } from '../../subgraphs/org/auth/authenticator.ts';
import { listTwins, loadTwins } from '../../subgraphs/org/twins/store.ts';
import { startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;
/** The organization's store through a client that logs every SQL statement it sends. */
let db: PrismaClient<'query'>;
const statements: string[] = [];
const AT = '2026-03-01T10:00:00.123Z';

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  const store = openStore(acme.databaseUrl, { poolSize: 1 });
  disposers.add(store.close);
  db = new PrismaClient({ adapter: store.adapter, log: [{ emit: 'event', level: 'query' }] });
  disposers.add(() => db.$disconnect());
  db.$on('query', (event) => statements.push(event.query));
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', tags: ['shared'] });
  await acme.createTwin({
    id: 'acme:line-1',
    name: 'Line 1',
    kind: 'line',
    metrics: [
      { name: 'vibration', unit: 'mm/s' },
      { name: 'count', unit: 'pcs' },
      { name: 'good', unit: 'pcs' },
      { name: 'temperature', unit: 'C', min: 10, max: 80 },
    ],
    suppliedByIds: ['initech:furnace-1', 'acme:press-1', 'globex:mill-3'],
    supply: [
      { supplierId: 'globex:mill-3', part: 'steel', share: 0.25, leadTimeHours: 48, stock: 20, safetyStock: 5, consumptionPerDay: 10 },
      { supplierId: 'acme:press-1', daysOfSupply: 1.5 },
    ],
    production: { idealRatePerHour: 60, totalCountMetric: 'count', goodCountMetric: 'good' },
  });
  await acme.ingest([
    { twinId: 'acme:line-1', metric: 'temperature', at: AT, value: 95.5 },
    { twinId: 'acme:line-1', metric: 'vibration', at: AT, value: 0.1 },
  ]);
});
afterAll(() => disposers.dispose());

/** What `load` sends to the database, and what it gives. */
async function sent<T>(load: () => Promise<T>): Promise<{ result: T; statements: number }> {
  statements.length = 0;
  const result = await load();
  return { result, statements: statements.length };
}

describe('loading twins', () => {
  const admin = () => new Access(unrestricted('member', 'test'), 'acme');

  it('loads twins with their metrics (by name) and suppliers (by id, with what they deliver) in one SQL statement', async () => {
    const { result, statements: count } = await sent(() => loadTwins(db, admin(), ['line-1', 'missing-1', 'press-1']));
    expect(count).toBe(1);
    const [line, missing, press] = result;
    expect(missing).toBeNull();
    expect(press).toMatchObject({ id: 'press-1', tags: ['shared'], metrics: [], suppliers: [] });
    expect(line!.metrics.map((metric) => metric.name)).toEqual(['count', 'good', 'temperature', 'vibration']);
    expect(line!.metrics[2]).toEqual({
      twinId: 'line-1',
      name: 'temperature',
      unit: 'C',
      min: 10,
      max: 80,
      lastValue: 95.5,
      lastAt: new Date(AT),
      sensitivity: null,
    });
    expect(line).toMatchObject({ status: 'ALERT', stateUpdatedAt: new Date(AT), idealRatePerHour: 60, totalCountMetric: 'count', goodCountMetric: 'good' });
    expect(line!.suppliers.map((supplier) => supplier.supplierId)).toEqual(['acme:press-1', 'globex:mill-3', 'initech:furnace-1']);
    expect(line!.suppliers[1]!.supply).toMatchObject({
      part: 'steel',
      share: 0.25,
      leadTimeHours: 48,
      stock: 20,
      safetyStock: 5,
      consumptionPerDay: 10,
      daysOfSupply: null,
    });
    expect(line!.suppliers[2]!.supply).toBeNull();
    // Exactly what loading each relation with a query of its own gives.
    const apart = await db.twin.findMany({
      where: { id: { in: ['line-1', 'press-1'] } },
      include: { metrics: { orderBy: { name: 'asc' } }, suppliers: { orderBy: { supplierId: 'asc' }, select: { supplierId: true, supply: true } } },
      orderBy: { id: 'asc' },
      relationLoadStrategy: 'query',
    });
    expect([line, press]).toEqual(apart);
  });

  it('lists a page of twins in one SQL statement', async () => {
    const { result, statements: count } = await sent(() => listTwins(db, admin(), { first: 1 }));
    expect(count).toBe(1);
    expect(result.rows.map((row) => [row.id, row.metrics.length, row.suppliers.length])).toEqual([['line-1', 4, 3]]);
    expect(result.hasNextPage).toBe(true);
  });

  it('gives a partner only the twins its grants select, in the same one statement, and notes what it read and missed', async () => {
    const grant = { jti: 'grant-1', scopes: ['twins:read' as const], selector: { ids: [], idGlobs: [], kinds: [], tags: ['shared'] } };
    const access = new Access(partnerPrincipal('globex', [grant]), 'acme');
    const { result, statements: count } = await sent(() => loadTwins(db, access, ['line-1', 'press-1']));
    expect(count).toBe(1);
    expect(result.map((twin) => twin?.id ?? null)).toEqual([null, 'press-1']);
    expect(access.auditEntries()).toMatchObject([
      { partner: 'globex', grantJtis: ['grant-1'], action: 'read', twinIds: ['acme:press-1'], allowed: true },
      { partner: 'globex', action: 'read', twinIds: ['acme:line-1'], allowed: false, reason: 'UNKNOWN_TWIN' },
    ]);
  });
});
