import { bearer } from '../test/support/org.ts';
import { startNetwork } from '../test/support/network.ts';
import type { Disposers } from '../test/support/services.ts';

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * A call that POSTs a GraphQL operation (serialized once, here) and throws unless the answer
 * has no errors and its data passes `check`.
 */
export function postGraphQL(
  url: string,
  headers: Record<string, string>,
  operation: { query: string; variables?: Record<string, unknown> },
  check: (data: any) => boolean = () => true,
): () => Promise<void> {
  const body = JSON.stringify(operation);
  return async () => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const json = (await response.json()) as { data?: unknown; errors?: unknown };
    if (json.errors || !check(json.data)) throw new Error(`unexpected answer: ${JSON.stringify(json).slice(0, 300)}`);
  };
}

/** One contender of a benchmark: call latencies and the wall time they took. */
export class Contender {
  private readonly latencies: number[] = [];
  private wallMs = 0;

  constructor(
    readonly name: string,
    /** Items (rows, requests...) one call handles. */
    readonly itemsPerCall = 1,
  ) {}

  /** Times one call. */
  async time(run: () => Promise<unknown>): Promise<void> {
    const start = performance.now();
    await run();
    const ms = performance.now() - start;
    this.latencies.push(ms);
    this.wallMs += ms;
  }

  /** Makes `calls` calls, `concurrency` at a time; the rate counts wall time, not the sum of latencies. */
  async load(run: () => Promise<unknown>, calls: number, concurrency: number): Promise<void> {
    let next = 0;
    const start = performance.now();
    const worker = async () => {
      while (next++ < calls) {
        const begin = performance.now();
        await run();
        this.latencies.push(performance.now() - begin);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    this.wallMs += performance.now() - start;
  }

  summary(): Summary {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    // A single call is a whole pipelined run: it has a rate but no per-call latency.
    const latency = sorted.length > 1 ? { p50: percentile(sorted, 50), p99: percentile(sorted, 99) } : null;
    return { name: this.name, rate: (this.itemsPerCall * sorted.length * 1000) / this.wallMs, latency };
  }
}

/** What a contender achieved: its rate and, when it made several calls, their latency. */
export interface Summary {
  name: string;
  rate: number;
  latency: { p50: number; p99: number } | null;
}

/** Prints rows side by side, each with its rate as a ratio to its own baseline's (or the ratio given). */
export function printTable(title: string, unit: string, rows: { summary: Summary; baseline: Summary; ratio?: number }[]): void {
  console.log(`\n${title}`);
  console.log(`${'contender'.padEnd(46)} ${unit.padStart(10)} ${'vs baseline'.padStart(12)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}`);
  for (const { summary: s, baseline, ratio = s.rate / baseline.rate } of rows) {
    const [p50, p99] = s.latency ? [s.latency.p50.toFixed(2), s.latency.p99.toFixed(2)] : ['-', '-'];
    console.log(`${s.name.padEnd(46)} ${s.rate.toFixed(0).padStart(10)} ${`${ratio.toFixed(2)}x`.padStart(12)} ${p50.padStart(9)} ${p99.padStart(9)}`);
  }
}

/** Prints contenders side by side, each as a ratio to the first (the baseline). */
export function report(title: string, contenders: Contender[], unit: string): void {
  const summaries = contenders.map((c) => c.summary());
  printTable(
    title,
    unit,
    summaries.map((summary) => ({ summary, baseline: summaries[0]! })),
  );
}

/**
 * A network of one organization with one twin (`acme:press-1`, metric `force`) and a viewer's
 * token for it; its gateway without rate limit (every subscriber shares the token).
 */
export async function pressNetwork(disposers: Disposers) {
  const net = await startNetwork(disposers, ['acme'], { gateway: { rateLimit: { perSecond: 1e9, burst: 1e9 } } });
  const acme = net.orgs.acme!;
  await acme.createTwin({ id: 'acme:press-1', name: 'Press', kind: 'press', metrics: [{ name: 'force', unit: 'kN' }] });
  await acme.eventsPublished();
  return { net, acme, headers: bearer(await acme.memberToken('viewer', 'dashboard')) };
}
