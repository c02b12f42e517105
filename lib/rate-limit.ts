export interface RateLimitOptions {
  /** Requests per second each key is allowed on average. */
  perSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
  /**
   * Keys remembered at most; beyond, the least recently seen is forgotten (it starts with a full
   * burst again), so that memory stays bounded whatever the number of callers.
   * @default 100000
   */
  maxKeys?: number;
}

/**
 * A token bucket per key (a caller's token, an address), refilled at `perSecond` up to `burst`.
 * Written here rather than taken from rate-limiter-flexible or limiter: their in-memory stores keep
 * a key (and a timer) per caller until it expires, and a caller inventing tokens or addresses must
 * not be able to grow memory, so this one holds at most `maxKeys`.
 */
export class RateLimiter {
  /** In the order keys were last seen: the first is the least recent. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.perSecond > 0)) throw new TypeError(`perSecond must be positive, got ${options.perSecond}`);
    if (!(options.burst >= 1)) throw new TypeError(`burst must be at least 1, got ${options.burst}`);
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Milliseconds until `key`'s bucket holds `count` requests (a burst at most), 0 if it does now; takes nothing. */
  wait(key: string, now = Date.now(), count = 1): number {
    return this.waitFor(this.tokens(key, now), count);
  }

  /**
   * Takes `count` requests (a burst at most) from `key`'s bucket: 0 if they may go ahead, else the
   * milliseconds until they may, and nothing is taken. Either way `key` is now the most recently seen.
   */
  take(key: string, now = Date.now(), count = 1): number {
    const tokens = this.tokens(key, now);
    const waitMs = this.waitFor(tokens, count);
    if (!this.buckets.delete(key) && this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    this.buckets.set(key, { tokens: waitMs === 0 ? tokens - Math.min(count, this.options.burst) : tokens, at: now });
    return waitMs;
  }

  /** Milliseconds until a bucket holding `tokens` holds `count` requests (a burst at most). */
  private waitFor(tokens: number, count: number): number {
    const { perSecond, burst } = this.options;
    const missing = Math.min(count, burst) - tokens;
    return missing > 0 ? Math.ceil((missing / perSecond) * 1000) : 0;
  }

  /** What `key`'s bucket holds at `now`. */
  private tokens(key: string, now: number): number {
    const { perSecond, burst } = this.options;
    const bucket = this.buckets.get(key);
    return bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond) : burst;
  }
}

/**
 * Takes `count` requests from every bucket given (a limiter and a key), or from none: 0 if they
 * may go ahead, else the milliseconds until all of them hold enough. A request one bucket refuses
 * takes nothing from the others: a caller refused by a limit it shares with others keeps its own.
 */
export function takeAll(buckets: readonly (readonly [RateLimiter, string])[], now = Date.now(), count = 1): number {
  const waitMs = Math.max(0, ...buckets.map(([limiter, key]) => limiter.wait(key, now, count)));
  // Refused, each takes 0: its key is still seen now, so that a refused caller is not forgotten first.
  for (const [limiter, key] of buckets) limiter.take(key, now, waitMs === 0 ? count : 0);
  return waitMs;
}
