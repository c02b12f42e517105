import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propagate, type PropagationInput, type SupplyLinkData, type TwinSupply } from '../../lib/impact/propagate.ts';
import type { AffectedTwin, Disruption, Loss } from '../../lib/impact/types.ts';

/** Impact within one organization, on cases computed by hand. Times in hours from now. */

const H = 3_600_000;
const now = Date.UTC(2026, 11, 1);
const at = (hours: number) => now + hours * H;
const segments = (...pieces: [from: number, to: number, loss: number][]): Loss => pieces.map(([from, to, loss]) => ({ from: at(from), to: at(to), loss }));

function link(customerId: string, supplierId: string, data: Partial<SupplyLinkData> = {}): SupplyLinkData {
  return {
    customerId,
    supplierId,
    part: null,
    share: 1,
    leadTimeHours: 0,
    stock: null,
    safetyStock: null,
    consumptionPerDay: null,
    daysOfSupply: null,
    ...data,
  };
}

function twin(twinId: string, links: SupplyLinkData[] = [], capacityPerDay: number | null = null): TwinSupply {
  return { twinId, capacityPerDay, links };
}

const stop = (twinId: string, from: number, to: number, capacity = 0): Disruption => ({ twinId, from: at(from), to: at(to), capacity });

function run(input: Partial<PropagationInput> & Pick<PropagationInput, 'twins'>) {
  return propagate({
    now,
    until: at(24 * 7),
    disruptions: [],
    inputs: [],
    modifications: { alternates: [], extraStock: [], leadTimes: [] },
    visible: () => true,
    ...input,
  });
}

const byId = (affected: AffectedTwin[]) => Object.fromEntries(affected.map((twin) => [twin.twinId, twin]));

describe('impact within an organization', () => {
  /** press → welder (a day of supply, 12 h away) → assembly (50 units at 100 a day, safety 20, 6 h away). */
  const chain = [
    twin('acme:press', [], 10),
    twin('acme:welder', [link('acme:welder', 'acme:press', { leadTimeHours: 12, daysOfSupply: 1 })]),
    twin('acme:assembly', [link('acme:assembly', 'acme:welder', { leadTimeHours: 6, stock: 50, safetyStock: 20, consumptionPerDay: 100 })], 100),
  ];

  it('follows a three-tier chain through buffers and lead times', () => {
    const result = run({ twins: chain, disruptions: [stop('acme:press', 0, 48)] });
    expect(result.affected).toEqual([
      {
        twinId: 'acme:press',
        tier: 0,
        from: at(0),
        to: at(48),
        capacityLost: 1,
        unitsLost: 20,
        atRiskFrom: null,
        via: 'acme:press',
        loss: segments([0, 48, 1]),
      },
      // Short from 12 h, its day of supply lasts until 36 h; short until 48 + 12 h.
      {
        twinId: 'acme:welder',
        tier: 1,
        from: at(36),
        to: at(60),
        capacityLost: 1,
        unitsLost: null,
        atRiskFrom: null,
        via: 'acme:press',
        loss: segments([36, 60, 1]),
      },
      // Short from 42 h; 50 units at 100 a day last 12 h, below 20 units after 7.2 h.
      {
        twinId: 'acme:assembly',
        tier: 2,
        from: at(54),
        to: at(66),
        capacityLost: 1,
        unitsLost: 50,
        atRiskFrom: at(49.2),
        via: 'acme:welder',
        loss: segments([54, 66, 1]),
      },
    ]);
    expect(result.outputs).toEqual(result.affected.map(({ twinId, tier, loss }) => ({ supplierId: twinId, tier, loss })));
    expect(result).toMatchObject({ hiddenIds: [], cycles: [] });
  });

  it('cuts everything at the end of the horizon', () => {
    const result = run({ twins: chain, disruptions: [stop('acme:press', 0, 48)], until: at(40) });
    expect(result.affected.map(({ twinId, loss, unitsLost }) => ({ twinId, loss, unitsLost }))).toEqual([
      { twinId: 'acme:press', loss: segments([0, 40, 1]), unitsLost: (10 * 40) / 24 },
      { twinId: 'acme:welder', loss: segments([36, 40, 1]), unitsLost: null },
    ]);
  });

  it('passes on a partial loss, which a buffer may absorb entirely', () => {
    const twins = [
      twin('acme:press'),
      twin('acme:welder', [link('acme:welder', 'acme:press')], 8),
      twin('acme:paint', [link('acme:paint', 'acme:press', { daysOfSupply: 1 })]),
    ];
    const result = run({ twins, disruptions: [stop('acme:press', 0, 24, 0.25)] });
    expect(byId(result.affected)['acme:welder']).toMatchObject({ tier: 1, capacityLost: 0.75, unitsLost: 6, loss: segments([0, 24, 0.75]) });
    // 0.75 of a day drawn from a day of supply.
    expect(byId(result.affected)['acme:paint']).toBeUndefined();
  });

  it('adds the shares of two suppliers of one part, drawing on the part’s one buffer', () => {
    const links = (buffer: Partial<SupplyLinkData>) => [
      link('acme:assembly', 'acme:s1', { part: 'steel', share: 0.5 }),
      link('acme:assembly', 'acme:s2', { part: 'steel', share: 0.5, ...buffer }),
    ];
    const disruptions = [stop('acme:s1', 0, 24), stop('acme:s2', 12, 36)];
    const bare = run({ twins: [twin('acme:s1'), twin('acme:s2'), twin('acme:assembly', links({}))], disruptions });
    expect(byId(bare.affected)['acme:assembly']).toMatchObject({ tier: 1, via: 'acme:s1', loss: segments([0, 12, 0.5], [12, 24, 1], [24, 36, 0.5]) });
    // A quarter day of supply lasts 12 h at half the need.
    const buffered = run({ twins: [twin('acme:s1'), twin('acme:s2'), twin('acme:assembly', links({ daysOfSupply: 0.25 }))], disruptions });
    expect(byId(buffered.affected)['acme:assembly']!.loss).toEqual(segments([12, 24, 1], [24, 36, 0.5]));
  });

  it('loses, at a twin needing two parts, the larger shortfall at each time', () => {
    const twins = [
      twin('acme:mill'),
      twin('acme:fab'),
      twin('acme:assembly', [link('acme:assembly', 'acme:mill', { part: 'steel' }), link('acme:assembly', 'acme:fab', { part: 'chips' })]),
    ];
    const result = run({ twins, disruptions: [stop('acme:mill', 0, 48, 0.5), stop('acme:fab', 24, 36)] });
    expect(byId(result.affected)['acme:assembly']).toMatchObject({
      from: at(0),
      to: at(48),
      capacityLost: 1,
      via: 'acme:mill',
      loss: segments([0, 24, 0.5], [24, 36, 1], [36, 48, 0.5]),
    });
  });

  it('takes what an alternate supplier delivers off the shortfall once it delivers', () => {
    const twins = [twin('acme:mill'), twin('acme:assembly', [link('acme:assembly', 'acme:mill', { part: 'steel' })])];
    const modifications = { alternates: [{ customerId: 'acme:assembly', part: 'steel', share: 0.5, leadTimeHours: 12 }], extraStock: [], leadTimes: [] };
    const result = run({ twins, disruptions: [stop('acme:mill', 0, 48)], modifications });
    expect(byId(result.affected)['acme:assembly']!.loss).toEqual(segments([0, 12, 1], [12, 48, 0.5]));
  });

  it('draws extra stock, in days of the part’s consumption, before losing anything', () => {
    const twins = [twin('acme:mill'), twin('acme:assembly', [link('acme:assembly', 'acme:mill', { stock: 10, consumptionPerDay: 20 })])];
    const disruptions = [stop('acme:mill', 0, 48)];
    expect(byId(run({ twins, disruptions }).affected)['acme:assembly']!.loss).toEqual(segments([12, 48, 1]));
    const modifications = { alternates: [], extraStock: [{ customerId: 'acme:assembly', supplierId: 'acme:mill', days: 0.5 }], leadTimes: [] };
    expect(byId(run({ twins, disruptions, modifications }).affected)['acme:assembly']!.loss).toEqual(segments([24, 48, 1]));
  });

  it('brings a shortage forward when a lead time is expedited', () => {
    const twins = [twin('acme:mill'), twin('acme:assembly', [link('acme:assembly', 'acme:mill', { leadTimeHours: 24 })])];
    const disruptions = [stop('acme:mill', 0, 24)];
    expect(byId(run({ twins, disruptions }).affected)['acme:assembly']!.loss).toEqual(segments([24, 48, 1]));
    const modifications = { alternates: [], extraStock: [], leadTimes: [{ customerId: 'acme:assembly', supplierId: 'acme:mill', leadTimeHours: 6 }] };
    expect(byId(run({ twins, disruptions, modifications }).affected)['acme:assembly']!.loss).toEqual(segments([6, 30, 1]));
  });

  it('counts a twin the caller may not see without showing it or following it', () => {
    const result = run({ twins: chain, disruptions: [stop('acme:press', 0, 48)], visible: (id) => id !== 'acme:welder' });
    expect(result.affected.map((twin) => twin.twinId)).toEqual(['acme:press']);
    expect(result.outputs.map((output) => output.supplierId)).toEqual(['acme:press']);
    expect(result.hiddenIds).toEqual(['acme:welder']);
  });

  it('lists as hidden only the twins hit, not those a buffer shields', () => {
    const twins = [...chain, twin('acme:spare', [link('acme:spare', 'acme:press', { daysOfSupply: 30 })])];
    const result = run({ twins, disruptions: [stop('acme:press', 0, 48)], visible: (id) => id === 'acme:press' });
    expect(result.hiddenIds).toEqual(['acme:welder']);
  });

  it('goes round a loop once and names where it closes', () => {
    const twins = [
      twin('acme:a', [link('acme:a', 'acme:c')]),
      twin('acme:b', [link('acme:b', 'acme:a')]),
      twin('acme:c', [link('acme:c', 'acme:b', { leadTimeHours: 1 })]),
    ];
    const result = run({ twins, disruptions: [stop('acme:a', 0, 24)] });
    expect(result.affected.map(({ twinId, tier, loss }) => ({ twinId, tier, loss }))).toEqual([
      { twinId: 'acme:a', tier: 0, loss: segments([0, 24, 1]) },
      { twinId: 'acme:b', tier: 1, loss: segments([0, 24, 1]) },
      { twinId: 'acme:c', tier: 2, loss: segments([1, 25, 1]) },
    ]);
    expect(result.cycles).toEqual(['acme:a']);
  });

  it('keeps, where two disrupted twins share a loop, the loss that comes round it along no loop', () => {
    const twins = [twin('acme:a', [link('acme:a', 'acme:c')]), twin('acme:b', [link('acme:b', 'acme:a')]), twin('acme:c', [link('acme:c', 'acme:b')])];
    const result = run({ twins, disruptions: [stop('acme:a', 0, 120, 0.5), stop('acme:c', 0, 24, 0.1)] });
    expect(byId(result.affected)['acme:c']!.loss).toEqual(segments([0, 24, 0.9], [24, 120, 0.5]));
    expect(result.dependsOn).toEqual([
      { supplierId: 'acme:a', on: ['acme:a'] },
      { supplierId: 'acme:b', on: ['acme:a'] },
      { supplierId: 'acme:c', on: ['acme:a', 'acme:c'] },
    ]);
    expect(result.cycles).toEqual(['acme:a']);
  });

  it('takes the tier only through the parts that lose output past their buffer', () => {
    const twins = [
      twin('acme:a'),
      twin('acme:b', [link('acme:b', 'acme:a')]),
      twin('acme:c', [link('acme:c', 'acme:a', { part: 'x', daysOfSupply: 100 }), link('acme:c', 'acme:b', { part: 'y', leadTimeHours: 1 })]),
    ];
    const result = run({ twins, disruptions: [stop('acme:a', 0, 24)] });
    expect(byId(result.affected)['acme:c']).toMatchObject({ tier: 2, via: 'acme:b', loss: segments([1, 25, 1]) });
  });

  it('says which inputs and disruptions reach each output, leaving out those a buffer absorbs', () => {
    const twins = [
      twin('acme:a'),
      twin('acme:b', [link('acme:b', 'globex:x', { part: 'x' }), link('acme:b', 'acme:a', { part: 'y', daysOfSupply: 100 })]),
      twin('acme:c', [link('acme:c', 'acme:a'), link('acme:c', 'globex:y')]),
    ];
    const inputs = [
      { supplierId: 'globex:x', tier: 0, loss: segments([0, 24, 1]) },
      { supplierId: 'globex:y', tier: 0, loss: segments([0, 24, 1]) },
    ];
    const result = run({ twins, inputs, disruptions: [stop('acme:a', 0, 24)] });
    expect(result.dependsOn).toEqual([
      { supplierId: 'acme:a', on: ['acme:a'] },
      { supplierId: 'acme:b', on: ['globex:x'] },
      { supplierId: 'acme:c', on: ['acme:a', 'globex:y'] },
    ]);
  });

  it('does not list a twin whose buffer only falls below safety stock', () => {
    const twins = [twin('acme:a'), twin('acme:b', [link('acme:b', 'acme:a', { daysOfSupply: 10, safetyStock: 8 })])];
    const result = run({ twins, disruptions: [stop('acme:a', 0, 120)] });
    expect(result.affected.map((hit) => hit.twinId)).toEqual(['acme:a']);
  });

  it('continues another organization’s loss with its tier, and never takes another’s word on its own twins', () => {
    const twins = [
      twin('acme:assembly', [link('acme:assembly', 'globex:mill', { leadTimeHours: 2 })]),
      twin('acme:paint', [link('acme:paint', 'acme:assembly')]),
    ];
    const inputs = [
      { supplierId: 'globex:mill', tier: 2, loss: segments([0, 24, 1]) },
      { supplierId: 'acme:assembly', tier: 0, loss: segments([0, 100, 1]) },
    ];
    const result = run({ twins, inputs });
    expect(result.affected.map(({ twinId, tier, via, loss }) => ({ twinId, tier, via, loss }))).toEqual([
      { twinId: 'acme:assembly', tier: 3, via: 'globex:mill', loss: segments([2, 26, 1]) },
      { twinId: 'acme:paint', tier: 4, via: 'acme:assembly', loss: segments([2, 26, 1]) },
    ]);
  });

  it('passes on a loss in at most 64 segments, overstating it rather than understating it', () => {
    const twins = [twin('acme:assembly', [link('acme:assembly', 'globex:a', { part: 'steel' }), link('acme:assembly', 'globex:b', { part: 'chips' })])];
    const every = (first: number, loss: number) =>
      segments(...Array.from({ length: 64 }, (_, i): [number, number, number] => [first + 2 * i, first + 2 * i + 1, loss]));
    const inputs = [
      { supplierId: 'globex:a', tier: 1, loss: every(0, 0.5) },
      { supplierId: 'globex:b', tier: 1, loss: every(1, 1) },
    ];
    // 128 alternating segments of 0.5 and 1, two by two.
    expect(byId(run({ twins, inputs }).affected)['acme:assembly']!.loss).toEqual(
      segments(...Array.from({ length: 64 }, (_, i): [number, number, number] => [2 * i, 2 * i + 2, 1])),
    );
  });
});

describe('impact within an organization, on any supply graph', () => {
  const ids = ['acme:t0', 'acme:t1', 'acme:t2', 'acme:t3', 'acme:t4', 'acme:t5', 'acme:t6', 'acme:t7'];
  const id = fc.constantFrom(...ids);
  const linkArbitrary = fc.record({
    customerId: id,
    supplierId: fc.constantFrom(...ids, 'globex:x'),
    part: fc.constantFrom(null, 'steel', 'chips'),
    share: fc.double({ min: 0, max: 1, noNaN: true }),
    leadTimeHours: fc.integer({ min: 0, max: 48 }),
    days: fc.option(fc.double({ min: 0, max: 3, noNaN: true })),
  });
  const graph = fc.record({
    links: fc.array(linkArbitrary, { maxLength: 30 }),
    disruptions: fc.array(
      fc.record({ twinId: id, from: fc.integer({ min: -24, max: 100 }), hours: fc.integer({ min: 1, max: 72 }), capacity: fc.constantFrom(0, 0.3, 0.9) }),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
    hidden: fc.subarray(ids),
  });

  function input({ links, disruptions, hidden }: typeof graph extends fc.Arbitrary<infer G> ? G : never): PropagationInput {
    const unique = new Map(links.map((l) => [`${l.customerId}>${l.supplierId}`, l]));
    return {
      now,
      until: at(24 * 5),
      twins: ids.map((twinId) =>
        twin(
          twinId,
          [...unique.values()].filter((l) => l.customerId === twinId).map(({ days, ...l }) => link(twinId, l.supplierId, { ...l, daysOfSupply: days })),
          10,
        ),
      ),
      disruptions: disruptions.map(({ twinId, from, hours, capacity }) => stop(twinId, from, from + hours, capacity)),
      inputs: [{ supplierId: 'globex:x', tier: 1, loss: segments([0, 30, 0.7]) }],
      modifications: { alternates: [], extraStock: [], leadTimes: [] },
      visible: (twinId) => !hidden.includes(twinId),
    };
  }

  it('terminates, with losses in (0, 1] in ordered disjoint segments within the horizon, on visible twins only', () => {
    fc.assert(
      fc.property(graph, (g) => {
        const data = input(g);
        const result = propagate(data);
        for (const twin of result.affected) {
          expect(data.visible(twin.twinId)).toBe(true);
          expect(twin.from).toBe(twin.loss[0]!.from);
          expect(twin.to).toBe(twin.loss.at(-1)!.to);
          twin.loss.forEach((segment, i) => {
            expect(segment.loss).toBeGreaterThan(0);
            expect(segment.loss).toBeLessThanOrEqual(1);
            expect(segment.from).toBeLessThan(segment.to);
            expect(segment.to).toBeLessThanOrEqual(data.until);
            if (i > 0) expect(segment.from).toBeGreaterThanOrEqual(twin.loss[i - 1]!.to);
          });
        }
        expect(result.cycles.every((twinId) => data.visible(twinId))).toBe(true);
      }),
    );
  });

  it('never hits a twin earlier when there is more buffer', () => {
    fc.assert(
      fc.property(graph, fc.double({ min: 0.01, max: 2, noNaN: true }), (g, days) => {
        const data = input(g);
        const extraStock = data.twins.flatMap((t) => t.links.map((l) => ({ customerId: l.customerId, supplierId: l.supplierId, days })));
        const before = byId(propagate(data).affected);
        for (const twin of propagate({ ...data, modifications: { ...data.modifications, extraStock } }).affected) {
          expect(before[twin.twinId]).toBeDefined();
          expect(twin.from).toBeGreaterThanOrEqual(before[twin.twinId]!.from);
        }
      }),
    );
  });

  it('answers for a thousand twins linked in loops', () => {
    const twins = Array.from({ length: 1000 }, (_, i) =>
      twin(
        `acme:t${i}`,
        [i - 1, i - 7, i + 13]
          .filter((j) => j >= 0 && j < 1000 && j !== i)
          .map((j) => link(`acme:t${i}`, `acme:t${j}`, { leadTimeHours: 1, daysOfSupply: 0.1 })),
        5,
      ),
    );
    const question: PropagationInput = {
      now,
      until: at(24 * 30),
      twins,
      disruptions: [stop('acme:t0', 0, 72)],
      inputs: [],
      modifications: { alternates: [], extraStock: [], leadTimes: [] },
      visible: () => true,
    };
    const { affected } = propagate(question);
    // Tiers are the fewest links from t0 along which the loss gets through (every buffer here is
    // smaller than the loss), and every twin hit is reached from t0.
    const tiers = new Map([['acme:t0', 0]]);
    for (const id of tiers.keys())
      for (const customer of twins)
        if (!tiers.has(customer.twinId) && customer.links.some((supply) => supply.supplierId === id)) tiers.set(customer.twinId, tiers.get(id)! + 1);
    expect(affected.length).toBeGreaterThan(100);
    expect(affected[0]).toMatchObject({ twinId: 'acme:t0', tier: 0, via: 'acme:t0' });
    for (const hit of affected) expect(hit.tier, hit.twinId).toBe(tiers.get(hit.twinId));
  });
});
