// The load of bench/network.ts, in a process of its own so that the servers measured do not share
// it: autocannon POSTs GraphQL operations to one or more targets at once, after a warm-up, and
// prints one JSON line (LoadResult) on stdout.
//   node bin/run-ts.mjs bench/load.ts '<LoadSpec as JSON>'
import autocannon from 'autocannon';
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
}

async function run(spec: LoadSpec, duration: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const byKind = new Map<string, number[]>();
  let firstError: string | undefined;
  const results = await Promise.all(
    spec.targets.map(
      (target) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          const options = {
            url: target.url,
            connections: target.connections,
            duration,
            requests: target.requests.map(({ headers, body }) => ({
              method: 'POST' as const,
              headers: { 'content-type': 'application/json', ...headers },
              body,
            })),
            verifyBody: (body: autocannon.Request['body']) => {
              const text = String(body);
              if (!text.includes('"errors"')) return true;
              firstError ??= text.slice(0, 500);
              return false;
            },
          };
          const instance = autocannon(options, (error: unknown, result) => (error ? reject(error) : resolve(result)));
          instance.on('response', (client, _status, _bytes, ms) => {
            latencies.push(ms);
            // Still the request answered: the client moves on to the next one after this event.
            const { kind } = target.requests[(client as unknown as { requestIterator: { currentRequestIndex: number } }).requestIterator.currentRequestIndex]!;
            const ofKind = byKind.get(kind) ?? [];
            if (ofKind.length === 0) byKind.set(kind, ofKind);
            ofKind.push(ms);
          });
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  const kinds = Object.fromEntries(
    [...byKind].map(([kind, ms]) => {
      ms.sort((a, b) => a - b);
      return [kind, { p50: percentile(ms, 50), p99: percentile(ms, 99) }];
    }),
  );
  const sum = (pick: (result: autocannon.Result) => number) => results.reduce((total, result) => total + pick(result), 0);
  return {
    answers: latencies.length,
    seconds: Math.max(...results.map((result) => result.duration)),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    kinds,
    failures: { non2xx: sum((r) => r.non2xx), errors: sum((r) => r.errors), timeouts: sum((r) => r.timeouts), graphqlErrors: sum((r) => r.mismatches) },
    firstError,
  };
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
if (spec.warmup > 0) await run(spec, spec.warmup);
process.stdout.write(`${JSON.stringify(await run(spec, spec.duration))}\n`);
