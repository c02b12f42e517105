/** The demo network: an OEM and two suppliers, with cross-organization supply relationships. */
export const DEMO_ORGS = [
  { slug: 'acme', name: 'ACME Motors (OEM)' },
  { slug: 'globex', name: 'Globex Steel' },
  { slug: 'initech', name: 'Initech Castings' },
] as const;

const temperature = (min: number, max: number) => ({ name: 'temperature', unit: 'C', min, max });
const vibration = { name: 'vibration', unit: 'mm/s', min: 0, max: 7 };
const throughput = { name: 'throughput', unit: 'parts/h', min: 20 };

/** Twins per organization (TwinInput of each organization's `createTwin`). */
export const DEMO_TWINS: Record<string, Record<string, unknown>[]> = {
  initech: [
    {
      id: 'initech:furnace-1',
      name: 'Induction furnace 1',
      kind: 'furnace',
      tags: ['melt-shop'],
      metrics: [temperature(1350, 1550)],
      location: { site: 'Dayton', line: 'M1' },
    },
    {
      id: 'initech:caster-1',
      name: 'Die caster 1',
      kind: 'die-caster',
      tags: ['casting'],
      metrics: [temperature(600, 720), throughput],
      suppliedByIds: ['initech:furnace-1'],
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
    },
    { id: 'globex:mill-2', name: 'Rolling mill 2', kind: 'mill', tags: ['cold-rolling'], metrics: [vibration, throughput] },
  ],
  acme: [
    {
      id: 'acme:press-1',
      name: 'Stamping press 1',
      kind: 'press',
      tags: ['body-shop'],
      metrics: [vibration, throughput],
      suppliedByIds: ['globex:mill-1', 'globex:mill-2'],
    },
    {
      id: 'acme:cnc-1',
      name: 'CNC mill 1',
      kind: 'cnc-mill',
      tags: ['powertrain'],
      metrics: [temperature(15, 45), vibration],
      suppliedByIds: ['initech:caster-1'],
    },
    {
      id: 'acme:line-1',
      name: 'Assembly line 1',
      kind: 'line',
      tags: ['final-assembly'],
      metrics: [throughput],
      suppliedByIds: ['acme:press-1', 'acme:cnc-1'],
    },
  ],
};

/** What the suppliers grant ACME (TwinSelector of each grant): their twins, telemetry, events, and health, KPIs and maintenance. */
export const DEMO_GRANTS = [
  { org: 'globex', scopes: ['twins:read', 'telemetry:read', 'twins:subscribe', 'analytics:read'], selector: { kinds: ['mill'] } },
  { org: 'initech', scopes: ['twins:read', 'telemetry:read', 'twins:subscribe', 'analytics:read'], selector: { idGlobs: ['initech:*'] } },
];
