import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../lib/rate-limit.ts';

describe('RateLimiter', () => {
  it('lets a burst through, then one request per refill, per key', () => {
    const limiter = new RateLimiter({ perSecond: 2, burst: 3 });
    expect([0, 0, 0].map(() => limiter.take('a', 1000))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 1000)).toBe(500);
    expect(limiter.take('b', 1000)).toBe(0);
    expect(limiter.take('a', 1250)).toBe(250);
    expect(limiter.take('a', 1500)).toBe(0);
    expect(limiter.take('a', 1500)).toBe(500);
    // Idle long enough: a full burst again, never more.
    expect([0, 0, 0, 0].map(() => limiter.take('a', 60_000))).toEqual([0, 0, 0, 500]);
  });

  it('remembers at most maxKeys keys, forgetting the least recently seen', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxKeys: 2 });
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('b', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(1000);
    // 'b' is now the least recently seen: 'c' makes it forgotten, 'a' is still limited.
    expect(limiter.take('c', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(1000);
    expect(limiter.take('b', 0)).toBe(0);
  });

  it('takes several requests at once, never more than a burst', () => {
    const limiter = new RateLimiter({ perSecond: 2, burst: 10 });
    expect(limiter.take('a', 0, 4)).toBe(0);
    expect(limiter.take('a', 0, 4)).toBe(0);
    // 2 left: 4 more take a second, and nothing was taken.
    expect(limiter.take('a', 0, 4)).toBe(1000);
    expect(limiter.take('a', 0, 2)).toBe(0);
    // More than a burst counts as a burst, which a full bucket holds.
    expect(limiter.take('a', 0, 50)).toBe(5000);
    expect(limiter.take('a', 5000, 50)).toBe(0);
  });

  it('refuses limits that let nothing through', () => {
    expect(() => new RateLimiter({ perSecond: 0, burst: 1 })).toThrow(TypeError);
    expect(() => new RateLimiter({ perSecond: 1, burst: 0.5 })).toThrow(TypeError);
  });
});
