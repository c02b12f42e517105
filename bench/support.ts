export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Latency samples (ms) of one contender and the rows/s they imply. */
export class Samples {
  readonly ms: number[] = [];
  constructor(
    readonly name: string,
    readonly rowsPerCall: number,
  ) {}

  async time(run: () => Promise<unknown>): Promise<void> {
    const start = performance.now();
    await run();
    this.ms.push(performance.now() - start);
  }

  summary() {
    const sorted = [...this.ms].sort((a, b) => a - b);
    const total = this.ms.reduce((sum, ms) => sum + ms, 0);
    // A single sample is a whole pipelined run: it has a rate but no per-call latency.
    const latency = this.ms.length > 1 ? { p50: percentile(sorted, 50), p99: percentile(sorted, 99) } : null;
    return { name: this.name, rowsPerSecond: (this.rowsPerCall * this.ms.length * 1000) / total, latency };
  }
}

/** Prints contenders side by side, each as a ratio to the first (the baseline). */
export function report(title: string, contenders: Samples[], unit = 'rows/s'): void {
  const [baseline, ...rest] = contenders.map((c) => c.summary());
  console.log(`\n${title}`);
  console.log(`${'contender'.padEnd(42)} ${unit.padStart(10)} ${'vs baseline'.padStart(12)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}`);
  for (const s of [baseline!, ...rest]) {
    const ratio = s.rowsPerSecond / baseline!.rowsPerSecond;
    const [p50, p99] = s.latency ? [s.latency.p50.toFixed(2), s.latency.p99.toFixed(2)] : ['-', '-'];
    console.log(`${s.name.padEnd(42)} ${s.rowsPerSecond.toFixed(0).padStart(10)} ${`${ratio.toFixed(2)}x`.padStart(12)} ${p50.padStart(9)} ${p99.padStart(9)}`);
  }
}
