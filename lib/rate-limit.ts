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

  /**
   * Takes `count` requests (a burst at most) from `key`'s bucket: 0 if they may go ahead, else the
   * milliseconds until they may.
   */
  take(key: string, now = Date.now(), count = 1): number {
    const { perSecond, burst } = this.options;
    const taken = Math.min(count, burst);
    const bucket = this.buckets.get(key);
    let tokens = burst;
    if (bucket) {
      this.buckets.delete(key);
      tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    } else if (this.buckets.size >= this.maxKeys) {
      this.buckets.delete(this.buckets.keys().next().value as string);
    }
    const allowed = tokens >= taken;
    this.buckets.set(key, { tokens: allowed ? tokens - taken : tokens, at: now });
    return allowed ? 0 : Math.ceil(((taken - tokens) / perSecond) * 1000);
  }
}
