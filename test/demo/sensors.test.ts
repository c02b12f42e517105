import { describe, expect, it } from 'vitest';
import { backfillStart, FAULT_EVERY_MS, HISTORY_RUNS, SAMPLE_MS, SimulatedPlant, type SimulatedTwin } from '../../demo/sensors.ts';

const NOW = new Date(Date.UTC(2026, 5, 1, 12));
const TWINS: SimulatedTwin[] = [
  {
    id: 'acme:cnc-1',
    metrics: [
      { name: 'temperature', min: 15, max: 45 },
      { name: 'vibration', min: 0, max: 7 },
    ],
  },
  {
    id: 'acme:press-1',
    metrics: [
      { name: 'vibration', min: 0, max: 7 },
      { name: 'throughput', min: 20 },
    ],
  },
  { id: 'globex:mill-1', metrics: [{ name: 'temperature', min: 850, max: 1250 }] },
];
const plant = (seed = 7) => new SimulatedPlant({ seed, twins: TWINS, wearing: { twinId: 'acme:cnc-1', start: backfillStart(seed, NOW) } });
const at = (ms: number) => new Date(NOW.getTime() + ms);

/** Every reading of every twin, each second over [from, from + ms). */
function readingsOver(simulated: SimulatedPlant, from: Date, ms: number) {
  return Array.from({ length: ms / SAMPLE_MS }, (_, i) => simulated.readings(new Date(from.getTime() + i * SAMPLE_MS))).flat();
}

describe('the simulated plant', () => {
  it('reads the same given the seed and the time, and otherwise given another seed', () => {
    expect(plant().readings(at(1234))).toEqual(plant().readings(at(1234)));
    expect(plant().readings(at(1234))).not.toEqual(plant(8).readings(at(1234)));
    expect(
      plant()
        .readings(at(1234))
        .map((r) => r.value),
    ).not.toEqual(
      plant()
        .readings(at(2234))
        .map((r) => r.value),
    );
  });

  it('reads inside the normal ranges, with noise, but for its faults', () => {
    const simulated = plant();
    const readings = readingsOver(simulated, at(-30 * 60_000), 30 * 60_000).filter((r) => r.twinId !== 'acme:cnc-1');
    const bounds = new Map(TWINS.flatMap((twin) => twin.metrics.map((m) => [`${twin.id}/${m.name}`, m])));
    const outside = readings.filter((r) => {
      const { min = 0, max = min + 100 } = bounds.get(`${r.twinId}/${r.metric}`)!;
      return r.value < min || r.value > max;
    });
    expect(outside.length).toBeGreaterThan(0);
    expect(outside.length / readings.length).toBeLessThan(0.02);
    for (const reading of outside) {
      const fault = simulated.faultAt(new Date(reading.at));
      expect([fault.twinId, fault.metric]).toEqual([reading.twinId, reading.metric]);
    }
    // Noise: consecutive readings of a series differ, by a little.
    const mill = readings.filter((r) => r.twinId === 'globex:mill-1').map((r) => r.value);
    const steps = mill.slice(1).map((value, i) => Math.abs(value - mill[i]!));
    expect(steps.filter((step) => step > 0).length).toBeGreaterThan(steps.length * 0.9);
    expect(steps.sort((a, b) => a - b)[steps.length >> 1]).toBeLessThan(0.1 * 400);
  });

  it('has one fault every few minutes, of every kind, on different twins', () => {
    const simulated = plant();
    const faults = Array.from({ length: 40 }, (_, slot) => simulated.faultAt(at(slot * FAULT_EVERY_MS)));
    for (const [slot, fault] of faults.entries()) {
      expect(Math.floor(fault.start.getTime() / FAULT_EVERY_MS)).toBe(Math.floor(at(slot * FAULT_EVERY_MS).getTime() / FAULT_EVERY_MS));
      expect(fault.end > fault.start).toBe(true);
    }
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(['spike', 'stuck', 'shift', 'out-of-range']));
    expect(new Set(faults.map((f) => f.twinId)).size).toBe(TWINS.length);
  });

  it('shows each fault in the readings: a spike, a stuck sensor, a level shift, a value out of range', () => {
    const simulated = plant();
    const seen = new Set<string>();
    for (let slot = 0; seen.size < 4 && slot < 200; slot++) {
      const fault = simulated.faultAt(at(slot * FAULT_EVERY_MS));
      if (fault.twinId === 'acme:cnc-1' || seen.has(fault.kind)) continue;
      const series = (when: Date) => simulated.readings(when).find((r) => r.twinId === fault.twinId && r.metric === fault.metric)!.value;
      const during = series(fault.start);
      // The same series a fault-free day earlier: its daily pattern at the same time of day.
      const normal = readingsOver(simulated, new Date(fault.start.getTime() - 86_400_000 - 30_000), 60_000)
        .filter((r) => r.twinId === fault.twinId && r.metric === fault.metric)
        .map((r) => r.value);
      const mean = normal.reduce((sum, v) => sum + v, 0) / normal.length;
      const sd = Math.sqrt(normal.reduce((sum, v) => sum + (v - mean) ** 2, 0) / normal.length);
      const { min = 0, max = min + 100 } = TWINS.find((t) => t.id === fault.twinId)!.metrics.find((m) => m.name === fault.metric)!;
      if (fault.kind === 'spike') {
        expect(Math.abs(during - mean)).toBeGreaterThan(6 * sd);
        expect(series(fault.end)).not.toBe(during);
      }
      if (fault.kind === 'stuck') {
        expect(series(new Date(fault.start.getTime() + 10_000))).toBe(during);
        expect(series(new Date(fault.end.getTime() - SAMPLE_MS))).toBe(during);
      }
      if (fault.kind === 'shift') {
        const shifted = readingsOver(simulated, fault.start, 30_000)
          .filter((r) => r.twinId === fault.twinId && r.metric === fault.metric)
          .map((r) => r.value);
        expect(Math.abs(shifted.reduce((sum, v) => sum + v, 0) / shifted.length - mean)).toBeGreaterThan(3 * sd);
      }
      if (fault.kind === 'out-of-range') expect(during < min || during > max).toBe(true);
      seen.add(fault.kind);
    }
    expect(seen.size).toBe(4);
  });

  it('wears the wearing twin toward failure over a run, and starts anew after the repair', () => {
    const simulated = plant();
    const run = simulated.runAt(NOW);
    const wears = Array.from({ length: 11 }, (_, i) =>
      simulated.wear(new Date(run.start.getTime() + (i / 10) * (run.failure.getTime() - run.start.getTime() - 1))),
    );
    for (let i = 1; i < wears.length; i++) expect(wears[i]!).toBeGreaterThan(wears[i - 1]!);
    expect(wears[0]!).toBeLessThan(0.1);
    expect(wears[10]!).toBeGreaterThan(0.99);
    // Its vibration rises with it, from the lower part of the range to near its top.
    const vibration = (when: Date) => {
      const values = readingsOver(simulated, when, 60_000)
        .filter((r) => r.twinId === 'acme:cnc-1' && r.metric === 'vibration')
        .map((r) => r.value)
        .sort((a, b) => a - b);
      return values[values.length >> 1]!;
    };
    expect(vibration(run.start)).toBeLessThan(3);
    expect(vibration(new Date(run.failure.getTime() - 60_000))).toBeGreaterThan(5);
    // Failed: no readings until the repair, then a new run as good as new.
    expect(simulated.wear(run.failure)).toBeNull();
    expect(simulated.readings(run.failure).some((r) => r.twinId === 'acme:cnc-1')).toBe(false);
    expect(simulated.runAt(run.repair)).toMatchObject({ index: run.index + 1, start: run.repair });
    expect(simulated.wear(run.repair)!).toBeLessThan(0.1);
    expect(vibration(run.repair)).toBeLessThan(3);
  });

  it('has a history of runs to failure sampled every second, and a run under way some minutes in', () => {
    const simulated = plant();
    const start = backfillStart(7, NOW);
    const events = simulated.maintenance(new Date(start.getTime() - 1), NOW);
    expect(events.map((e) => e.type)).toEqual(Array.from({ length: HISTORY_RUNS }, () => ['FAILURE', 'REPAIR']).flat());
    const lives = Array.from({ length: HISTORY_RUNS }, (_, i) => (i === 0 ? start : events[2 * i - 1]!.at)).map(
      (runStart, i) => (events[2 * i]!.at.getTime() - runStart.getTime()) / 60_000,
    );
    expect(Math.min(...lives)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...lives)).toBeLessThan(40);
    expect(new Set(lives.map(Math.round)).size).toBeGreaterThan(3);
    const current = simulated.runAt(NOW);
    expect(current.index).toBe(HISTORY_RUNS);
    expect(NOW.getTime() - current.start.getTime()).toBeGreaterThan(60_000);
    expect(current.failure.getTime() - NOW.getTime()).toBe(20 * 60_000);

    const history = simulated.history(start, NOW);
    const times = [...new Set(history.map((r) => Date.parse(r.at)))];
    // Every second of every run, both metrics; gaps only for the repairs, which none reads through.
    const gaps = times
      .slice(1)
      .map((t, i) => [times[i]!, t] as const)
      .filter(([a, b]) => b - a !== SAMPLE_MS);
    expect(gaps).toHaveLength(HISTORY_RUNS);
    gaps.forEach(([lastRead, firstRead], i) => {
      expect(lastRead).toBeLessThan(events[2 * i]!.at.getTime());
      expect(firstRead).toBe(events[2 * i + 1]!.at.getTime());
    });
    expect(history).toHaveLength(2 * times.length);
    expect(history.every((r) => r.twinId === 'acme:cnc-1')).toBe(true);
    expect(times[0]).toBe(start.getTime());
  });
});
