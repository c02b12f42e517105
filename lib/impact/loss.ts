import type { Loss } from './types.ts';

/** Shares lost at or below this count as nothing (rounding of sums of shares). */
export const NEGLIGIBLE = 1e-9;

/** Most segments a loss passed on has (lib/impact/protocol.ts). */
export const MAX_SEGMENTS = 64;

/** Milliseconds in an hour and in a day. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Segments from (from, to, value) pieces in time order: pieces with nothing lost dropped, pieces
 * cut at `until`, touching pieces of equal loss merged.
 */
function normalize(pieces: Iterable<{ from: number; to: number; loss: number }>, until: number): Loss {
  const loss: Loss = [];
  for (const { from, to: end, loss: value } of pieces) {
    const to = Math.min(end, until);
    if (to <= from || value <= NEGLIGIBLE) continue;
    const last = loss.at(-1);
    if (last && last.to === from && Math.abs(last.loss - value) <= NEGLIGIBLE) last.to = to;
    else loss.push({ from, to, loss: value });
  }
  return loss;
}

/** `loss` arriving `ms` later, cut at `until`. */
export function shift(loss: Loss, ms: number, until: number): Loss {
  return normalize(
    loss.map(({ from, to, loss: value }) => ({ from: from + ms, to: to + ms, loss: value })),
    until,
  );
}

/**
 * `min(cap, Σ weight × loss)` of weighted losses, one sweep over their segments' ends (sorted):
 * linear in segments but for the sort.
 */
export function weightedSum(terms: { loss: Loss; weight: number }[], cap: number, until: number): Loss {
  if (terms.length === 1)
    return normalize(
      terms[0]!.loss.map((segment) => ({ ...segment, loss: Math.min(cap, terms[0]!.weight * segment.loss) })),
      until,
    );
  const steps: { at: number; delta: number }[] = [];
  for (const { loss, weight } of terms)
    for (const { from, to, loss: value } of loss) steps.push({ at: from, delta: weight * value }, { at: to, delta: -weight * value });
  steps.sort((a, b) => a.at - b.at);
  const pieces: { from: number; to: number; loss: number }[] = [];
  let level = 0;
  for (let i = 0; i < steps.length;) {
    const at = steps[i]!.at;
    while (i < steps.length && steps[i]!.at === at) level += steps[i++]!.delta;
    if (i < steps.length) pieces.push({ from: at, to: steps[i]!.at, loss: Math.min(cap, level) });
  }
  return normalize(pieces, until);
}

/** The largest of several losses at every time. */
export function maxOf(all: Loss[], until: number): Loss {
  const losses = all.filter((loss) => loss.length > 0);
  if (losses.length <= 1) return normalize(losses[0] ?? [], until);
  const ends = [...new Set(losses.flatMap((loss) => loss.flatMap(({ from, to }) => [from, to])))].sort((a, b) => a - b);
  const next = losses.map(() => 0);
  const pieces: { from: number; to: number; loss: number }[] = [];
  for (let k = 0; k + 1 < ends.length; k++) {
    const from = ends[k]!;
    let value = 0;
    losses.forEach((loss, i) => {
      while (next[i]! < loss.length && loss[next[i]!]!.to <= from) next[i]!++;
      const segment = loss[next[i]!];
      if (segment && segment.from <= from) value = Math.max(value, segment.loss);
    });
    pieces.push({ from, to: ends[k + 1]!, loss: value });
  }
  return normalize(pieces, until);
}

/** `loss` less `relief` (never below nothing). */
export function minus(loss: Loss, relief: Loss, until: number): Loss {
  if (relief.length === 0) return loss;
  return weightedSum(
    [
      { loss, weight: 1 },
      { loss: relief, weight: -1 },
    ],
    1,
    until,
  );
}

/**
 * A loss in at most `max` segments: runs of neighbouring segments become one, spanning them, with
 * their largest loss. It may overstate a loss, never understate it.
 */
export function coarsen(loss: Loss, max = MAX_SEGMENTS): Loss {
  if (loss.length <= max) return loss;
  const run = Math.ceil(loss.length / max);
  const coarse: Loss = [];
  for (let i = 0; i < loss.length; i += run) {
    const segments = loss.slice(i, i + run);
    coarse.push({ from: segments[0]!.from, to: segments.at(-1)!.to, loss: Math.max(...segments.map((segment) => segment.loss)) });
  }
  return coarse;
}

/** ∫ loss dt, in days. */
export function lostDays(loss: Loss): number {
  return loss.reduce((sum, { from, to, loss: value }) => sum + ((to - from) * value) / DAY_MS, 0);
}
