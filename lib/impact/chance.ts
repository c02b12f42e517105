import { HOUR_MS } from './loss.ts';
import type { ResolvedDisruption } from './types.ts';

/** Standard normal distribution function, by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * The chance that a disruption hits `delayMs` after it starts no later than `horizonEnd`. A
 * disruption not predicted starts at its `from`: 1 or 0. A predicted one starts at a normal time
 * (mean `from`, standard deviation `spreadHours`) that has not come yet: it is conditioned on
 * starting from `now` on, since the twin is still running.
 */
export function chanceWithin(disruption: ResolvedDisruption, delayMs: number, now: number, horizonEnd: number): number {
  const latestStart = horizonEnd - delayMs;
  if (!disruption.predicted || !disruption.spreadHours) return disruption.from <= latestStart ? 1 : 0;
  if (latestStart < now) return 0;
  const sd = disruption.spreadHours * HOUR_MS;
  const before = normalCdf((now - disruption.from) / sd);
  const notYet = 1 - before;
  // Its start all but certainly past: it starts now.
  if (notYet < 1e-9) return 1;
  return Math.min(1, Math.max(0, (normalCdf((latestStart - disruption.from) / sd) - before) / notYet));
}

/** The chance that at least one of independent events happens. */
export function anyOf(chances: number[]): number {
  return 1 - chances.reduce((none, chance) => none * (1 - chance), 1);
}
