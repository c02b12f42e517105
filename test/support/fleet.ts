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
