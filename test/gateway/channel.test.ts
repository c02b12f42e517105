// A subscription's channel holds a bounded number of events: past it, it ends as too slow (its
// subscribers are closed with 4408 and resume after their last cursor), so that events waiting
// behind a slow one never pile up without end.
import { describe, expect, it } from 'vitest';
import { Channel } from '../../gateway/subscriptions/schema.ts';
import type { FeedEvent } from '../../gateway/subscriptions/hub.ts';

const event = (seq: number) => ({ seq }) as FeedEvent;

describe("a subscription's channel", () => {
  it('ends as overflowed when it would hold more events than its limit, the events before still waiting', async () => {
    let closed = 0;
    const channel = new Channel(() => closed++, 0, true, 2);
    // An event still being made holds back those after it.
    channel.push(new Promise<FeedEvent | null>(() => {}));
    channel.push(event(2));
    expect(channel.overflowed).toBe(false);
    channel.push(event(3));
    expect(channel.overflowed).toBe(true);
    expect(closed).toBe(1);
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it('holds up to its limit, and takes more as its events are read', async () => {
    const channel = new Channel(() => {}, 0, true, 2);
    channel.push(event(1));
    channel.push(event(2));
    expect(await channel.next()).toEqual({ value: event(1), done: false });
    channel.push(event(3));
    expect(channel.overflowed).toBe(false);
    expect(await channel.next()).toEqual({ value: event(2), done: false });
    expect(await channel.next()).toEqual({ value: event(3), done: false });
    expect(channel.position).toBe(3);
  });
});
