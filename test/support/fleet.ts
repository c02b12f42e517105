import type { TestOrg } from './org.ts';
import type { Run } from '../../subgraphs/org/analytics/rul.ts';
import { mulberry32 } from '../../subgraphs/org/analytics/boosting.ts';

/**
 * A synthetic fleet run to failure: each unit has a lifetime drawn from [min, max] steps, an
 * initial wear and noisy sensors that drift exponentially toward failure (`rising`, `falling`),
 * plus one constant and one pure-noise metric that carry no wear.
 */
export function syntheticFleet(units: number, seed: number, lifetime: { min: number; max: number } = { min: 80, max: 180 }): Run[] {
  const random = mulberry32(seed);
  const noise = () => random() + random() + random() - 1.5;
  return Array.from({ length: units }, (_, u) => {
    const life = Math.round(lifetime.min + random() * (lifetime.max - lifetime.min));
    const initial = 0.1 * random();
    const steps = Array.from({ length: life }, (_, i) => {
      const t = i + 1;
      const wear = initial + (1 - initial) * ((Math.exp((4 * t) / life) - 1) / (Math.exp(4) - 1));
      return { t, values: { rising: 10 + 5 * wear + 0.3 * noise(), falling: 50 - 8 * wear + 0.5 * noise(), constant: 7, noise: noise() } };
    });
    return { unit: `u${u}`, steps, failed: true };
  });
}

/** Six pumps that run to failure at vibration ≈ 6 after 40 to 60 hours: history for a kind's health model. */
export const PUMP_LIVES = [
  ['pump-1', 50],
  ['pump-2', 40],
  ['pump-3', 60],
  ['pump-5', 45],
  ['pump-6', 55],
  ['pump-7', 48],
] as const;

/** A pump's vibration: rises from 1 by `slope` per hour of its run, with a small deterministic ripple. */
export const pumpVibration = (hoursInRun: number, slope: number) => 1 + slope * hoursInRun + 0.05 * Math.sin(hoursInRun * 1.7);

/** Pumps (kind `pump`, one `vibration` metric) of an organization, their readings timed in hours from `t0` (ms). */
export function pumpsOf(org: Pick<TestOrg, 'createTwin' | 'ingest'>, slug: string, t0: number) {
  return {
    create: (id: string) => org.createTwin({ id: `${slug}:${id}`, name: id, kind: 'pump', metrics: [{ name: 'vibration', unit: 'mm/s' }] }),
    /** Ingests hourly readings of a pump's run, from `start` for `hours` hours. */
    run: (id: string, start: number, hours: number, slope: number) =>
      org.ingest(
        Array.from({ length: hours + 1 }, (_, h) => ({
          twinId: `${slug}:${id}`,
          metric: 'vibration',
          at: new Date(t0 + (start + h) * 3_600_000).toISOString(),
          value: pumpVibration(h, slope),
        })),
      ),
  };
}
