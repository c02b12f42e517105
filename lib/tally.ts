/** An item added up over a window: how many times, the first and the last time. */
interface Tallied<T> {
  item: T;
  count: number;
  first: Date;
  last: Date;
}

/**
 * Identical accesses added up over a window, so that audit rows grow with time, not with
 * requests. Past `max` distinct items in one window, a new item is folded by `fold` into a
 * coarser one (anyone can make up claims: a flood of different ones must not grow it).
 */
export class Tally<T> {
  private items = new Map<string, Tallied<T>>();

  constructor(
    private readonly max: number,
    private readonly fold: (item: T) => T,
  ) {}

  get size(): number {
    return this.items.size;
  }

  add(item: T, count = 1, first = new Date(), last = first): void {
    let key = JSON.stringify(item);
    if (!this.items.has(key) && this.items.size >= this.max) {
      item = this.fold(item);
      key = JSON.stringify(item);
    }
    const known = this.items.get(key);
    if (!known) this.items.set(key, { item, count, first, last });
    else {
      known.count += count;
      if (first < known.first) known.first = first;
      if (last > known.last) known.last = last;
    }
  }

  /** What was added up since the last call, emptied. */
  take(): Tallied<T>[] {
    const taken = [...this.items.values()];
    this.items = new Map();
    return taken;
  }
}
