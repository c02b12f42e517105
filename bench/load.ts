// The load of bench/network.ts, in processes of their own so that the servers measured do not
// share them: wrk (C, Debian's package `wrk`) POSTs GraphQL operations to one or more targets at
// once, after a warm-up, and this prints one JSON line (LoadResult) on stdout. The load shares the
// machine with the servers: it says the CPU it spent (`cpuTicks`), and its latencies carry no pauses
// of a garbage collector of its own, as a load in JavaScript's would (autocannon, used before).
// Each connection is a wrk thread of its own, going through its target's requests in turn (a
// script, bench/load.lua), so that each answer is timed against its own request and its kind known.
//   node bin/run-ts.mjs bench/load.ts '<LoadSpec as JSON>'
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { percentile } from './support.ts';

/** One endpoint and what its connections send, each connection going through `requests` in turn. */
export interface LoadTarget {
  url: string;
  connections: number;
  /** `kind` groups requests whose latencies are also reported apart (`LoadResult.kinds`). */
  requests: { headers: Record<string, string>; body: string; kind: string }[];
}

export interface LoadSpec {
  targets: LoadTarget[];
  /** Seconds measured. */
  duration: number;
  /** Seconds of the same load before, not measured. */
  warmup: number;
}

export interface LoadResult {
  /** Answers received in the measure, of any kind. */
  answers: number;
  seconds: number;
  p50: number;
  p99: number;
  /** The same of each kind of request alone. */
  kinds: Record<string, { p50: number; p99: number }>;
  /** Answers that were not 2xx, connection errors and timeouts, answers carrying GraphQL errors. */
  failures: { non2xx: number; errors: number; timeouts: number; graphqlErrors: number };
  /** The first answer carrying errors, if any. */
  firstError?: string;
  /** CPU the load itself spent in the measure (user and system, every wrk process), in clock ticks (`getconf CLK_TCK` a second). */
  cpuTicks: number;
}

/** What bench/load.lua prints of one wrk run. */
interface WrkRun {
  answers: number;
  seconds: number;
  /** Latencies in ms by the index of the request answered. */
  latencies: Record<string, number[]>;
  non2xx: number;
  errors: number;
  timeouts: number;
  graphqlErrors: number;
  firstError?: string;
  cpuTicks: number;
}

const SCRIPT = new URL('./load.lua', import.meta.url).pathname;
const exec = promisify(execFile);

async function runWrk(target: LoadTarget, requestsFile: string, seconds: number): Promise<WrkRun> {
  const threads = String(target.connections);
  const { stdout } = await exec('wrk', ['-t', threads, '-c', threads, '-d', `${seconds}s`, '--timeout', '10s', '-s', SCRIPT, target.url, requestsFile], {
    maxBuffer: 1 << 28,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('{"answers"'));
  if (line === undefined) throw new Error(`wrk printed no result: ${stdout.slice(0, 500)}`);
  return JSON.parse(line) as WrkRun;
}

async function run(spec: LoadSpec, files: string[], seconds: number): Promise<LoadResult> {
  const runs = await Promise.all(spec.targets.map((target, i) => runWrk(target, files[i]!, seconds)));
  const byKind = new Map<string, number[]>();
  runs.forEach((wrk, t) => {
    for (const [index, ms] of Object.entries(wrk.latencies)) {
      const { kind } = spec.targets[t]!.requests[Number(index)]!;
      byKind.set(kind, (byKind.get(kind) ?? []).concat(ms));
    }
  });
  const sorted = (ms: number[]) => ms.sort((a, b) => a - b);
  const sum = (pick: (wrk: WrkRun) => number) => runs.reduce((total, wrk) => total + pick(wrk), 0);
  const all = sorted([...byKind.values()].flat());
  return {
    answers: sum((wrk) => wrk.answers),
    seconds: Math.max(...runs.map((wrk) => wrk.seconds)),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    kinds: Object.fromEntries([...byKind].map(([kind, ms]) => [kind, { p50: percentile(sorted(ms), 50), p99: percentile(ms, 99) }])),
    failures: { non2xx: sum((r) => r.non2xx), errors: sum((r) => r.errors), timeouts: sum((r) => r.timeouts), graphqlErrors: sum((r) => r.graphqlErrors) },
    firstError: runs.find((wrk) => wrk.firstError)?.firstError,
    cpuTicks: sum((wrk) => wrk.cpuTicks),
  };
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
const dir = await mkdtemp(join(tmpdir(), 'twinx-load-'));
try {
  // Each target's requests as bench/load.lua reads them: two parts each, its header lines and its
  // body, each after its length in bytes and a newline.
  const files = await Promise.all(
    spec.targets.map(async (target, i) => {
      const file = join(dir, `requests-${i}`);
      const chunks = target.requests.flatMap(({ headers, body }) => {
        const head = Object.entries({ 'content-type': 'application/json', ...headers })
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('');
        return [`${Buffer.byteLength(head)}\n${head}`, `${Buffer.byteLength(body)}\n${body}`];
      });
      await writeFile(file, chunks.join(''));
      return file;
    }),
  );
  if (spec.warmup > 0) await run(spec, files, spec.warmup);
  process.stdout.write(`${JSON.stringify(await run(spec, files, spec.duration))}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
