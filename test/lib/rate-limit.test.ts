import { describe, expect, it } from 'vitest';
import { RateLimiter, takeAll } from '../../lib/rate-limit.ts';

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

  it('takes from several buckets at once or from none: a caller refused by its shared limit keeps its own', () => {
    const callers = new RateLimiter({ perSecond: 1, burst: 2 });
    const issuers = new RateLimiter({ perSecond: 1, burst: 2 });
    // Another caller of the same issuer used up what they share.
    expect(
      takeAll(
        [
          [callers, 'minted'],
          [issuers, 'acme'],
        ],
        0,
        2,
      ),
    ).toBe(0);
    const mine = [
      [callers, 'engineer'],
      [issuers, 'acme'],
    ] as const;
    // Refused by the issuer's bucket, five times: its own is not touched.
    expect([0, 0, 0, 0, 0].map(() => takeAll(mine, 0))).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(callers.wait('engineer', 0, 2)).toBe(0);
    // Once the shared bucket holds one again, the caller goes ahead, and both give one.
    expect(takeAll(mine, 1000)).toBe(0);
    expect(issuers.wait('acme', 1000)).toBe(1000);
    expect(callers.wait('engineer', 1000, 2)).toBe(1000);
    // The longest wait is the one said (the issuer's 2 s, not the caller's 1 s).
    expect(takeAll(mine, 1000, 2)).toBe(2000);
  });

  it('refuses limits that let nothing through', () => {
    expect(() => new RateLimiter({ perSecond: 0, burst: 1 })).toThrow(TypeError);
    expect(() => new RateLimiter({ perSecond: 1, burst: 0.5 })).toThrow(TypeError);
  });
});
