/** The demo network: an OEM and two suppliers, with cross-organization supply relationships. */
export const DEMO_ORGS = [
  { slug: 'acme', name: 'ACME Motors (OEM)' },
  { slug: 'globex', name: 'Globex Steel' },
  { slug: 'initech', name: 'Initech Castings' },
] as const;

const temperature = (min: number, max: number) => ({ name: 'temperature', unit: 'C', min, max });
const vibration = { name: 'vibration', unit: 'mm/s', min: 0, max: 7 };
const throughput = { name: 'throughput', unit: 'parts/h', min: 20 };

/**
 * Twins per organization (TwinInput of each organization's `createTwin`), with what flows along
 * each supply link, its lead time and the customer's buffer of it, and what each twin makes a day.
 * Chosen so that a 3-day stop of Initech's furnace reaches ACME's assembly line both ways, at
 * different times: through the caster and the CNC mill (the line stops 57 h after the furnace,
 * once its housings run out, until 87 h), and through Globex's hot-rolling mill and the press (the
 * line runs at half rate 88–94 h, short of body panels).
 */
export const DEMO_TWINS: Record<string, Record<string, unknown>[]> = {
  initech: [
    {
      id: 'initech:furnace-1',
      name: 'Induction furnace 1',
      kind: 'furnace',
      tags: ['melt-shop'],
      metrics: [temperature(1350, 1550)],
      location: { site: 'Dayton', line: 'M1' },
      capacity: { perDay: 120, unit: 't' },
    },
    {
      id: 'initech:caster-1',
      name: 'Die caster 1',
      kind: 'die-caster',
      tags: ['casting'],
      metrics: [temperature(600, 720), throughput],
      suppliedByIds: ['initech:furnace-1'],
      capacity: { perDay: 2400, unit: 'castings' },
      supply: [{ supplierId: 'initech:furnace-1', part: 'molten iron', share: 1, leadTimeHours: 2, daysOfSupply: 0.25, safetyStock: 0.125 }],
    },
  ],
  globex: [
    {
      id: 'globex:mill-1',
      name: 'Rolling mill 1',
      kind: 'mill',
      tags: ['hot-rolling'],
      metrics: [temperature(850, 1250), vibration],
      suppliedByIds: ['initech:furnace-1'],
      capacity: { perDay: 400, unit: 'coils' },
      // Half of its slabs come from Initech, the rest from outside the network.
      supply: [{ supplierId: 'initech:furnace-1', part: 'steel slab', share: 0.5, leadTimeHours: 12, daysOfSupply: 1, safetyStock: 0.5 }],
    },
    {
      id: 'globex:mill-2',
      name: 'Rolling mill 2',
      kind: 'mill',
      tags: ['cold-rolling'],
      metrics: [vibration, throughput],
      capacity: { perDay: 300, unit: 'coils' },
    },
  ],
  acme: [
    {
      id: 'acme:press-1',
      name: 'Stamping press 1',
      kind: 'press',
      tags: ['body-shop'],
      metrics: [vibration, throughput],
      suppliedByIds: ['globex:mill-1', 'globex:mill-2'],
      capacity: { perDay: 960, unit: 'panels' },
      supply: [
        { supplierId: 'globex:mill-1', part: 'hot-rolled coil', share: 1, leadTimeHours: 8, stock: 60, safetyStock: 20, consumptionPerDay: 240 },
        { supplierId: 'globex:mill-2', part: 'cold-rolled coil', share: 1, leadTimeHours: 8, stock: 90, safetyStock: 30, consumptionPerDay: 240 },
      ],
    },
    {
      id: 'acme:cnc-1',
      name: 'CNC mill 1',
      kind: 'cnc-mill',
      tags: ['powertrain'],
      metrics: [temperature(15, 45), vibration],
      suppliedByIds: ['initech:caster-1'],
      capacity: { perDay: 800, unit: 'housings' },
      supply: [{ supplierId: 'initech:caster-1', part: 'housing casting', share: 1, leadTimeHours: 12, stock: 400, safetyStock: 100, consumptionPerDay: 800 }],
    },
    {
      id: 'acme:line-1',
      name: 'Assembly line 1',
      kind: 'line',
      tags: ['final-assembly'],
      metrics: [throughput],
      suppliedByIds: ['acme:press-1', 'acme:cnc-1'],
      capacity: { perDay: 480, unit: 'vehicles' },
      supply: [
        { supplierId: 'acme:press-1', part: 'body panels', share: 1, leadTimeHours: 2, daysOfSupply: 0.125, safetyStock: 0.0625 },
        { supplierId: 'acme:cnc-1', part: 'machined housings', share: 1, leadTimeHours: 1, daysOfSupply: 1, safetyStock: 0.5 },
      ],
    },
  ],
};

/**
 * Past failures and their repairs (days before the demo's first start, hours to repair): Initech's
 * furnace takes three days to repair, so that a failure recorded now is taken to stop it that long.
 */
export const DEMO_MAINTENANCE: Record<string, { twinId: string; failedDaysAgo: number; repairHours: number; note: string }[]> = {
  initech: [
    { twinId: 'initech:furnace-1', failedDaysAgo: 150, repairHours: 70, note: 'refractory lining worn through' },
    { twinId: 'initech:furnace-1', failedDaysAgo: 40, repairHours: 74, note: 'induction coil cooling leak' },
  ],
};

/**
 * What the suppliers grant ACME (TwinSelector of each grant): their twins, telemetry, events,
 * health, KPIs and maintenance, and their supply data, so that ACME sees impact through them.
 */
const SHARED_WITH_ACME = ['twins:read', 'telemetry:read', 'twins:subscribe', 'analytics:read', 'supply:read'];
export const DEMO_GRANTS = [
  { org: 'globex', scopes: SHARED_WITH_ACME, selector: { kinds: ['mill'] } },
  { org: 'initech', scopes: SHARED_WITH_ACME, selector: { idGlobs: ['initech:*'] } },
];
