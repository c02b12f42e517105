import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getOperationAST, OperationTypeNode, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../demo/network.ts';
import { createLogger } from '../../lib/logger.ts';
import { eventually } from '../support/services.ts';
import { connect, subscribe, subscriptionsServed, type TestSubscription } from '../support/subscriptions.ts';

/**
 * The README's examples, run as a reader would run them against `twinx demo`: the shell blocks
 * that query the gateway (`gq '{"query"…`), each in the shell the blocks before it set up, and
 * every GraphQL block, with the demo's own (30-day) tokens.
 */
const README = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
const fenced = (language: string) => [...README.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\``, 'gm'))].map((match) => match[1]!);
const shell = fenced('sh');
/** The shell functions the README defines to send a request to the gateway (`gq`, `op`). */
const gatewayCalls = [...shell.join('\n').matchAll(/^(\w+)\(\) \{.*"\$GW"/gm)].map((match) => match[1]!);
/** A request to the gateway, one answer. */
const REQUEST = new RegExp(`^(${gatewayCalls.join('|')}) '`, 'gm');
const runnable = shell.filter((block) => block.match(REQUEST));
/** The early warning's blocks record a failure and a repair: run with the subscription that sees them. */
const recording = (field: string) => runnable.find((block) => block.includes(`{ ${field}(`))!;
const shellExamples = runnable.filter((block) => !/\{ record(Failure|Repair)\(/.test(block));
const graphqlExamples = fenced('graphql');
const impactSubscription = graphqlExamples.find((block) => /types: \[IMPACT\]/.test(block))!;

let home: string;
let demo: Awaited<ReturnType<typeof runDemo>>;

/**
 * Runs a block as a reader would: after the variables and functions the blocks before it define
 * (the gateway's address as the README sets it, the demo's default port, here this demo's).
 */
async function run(block: string): Promise<{ data?: any; errors?: unknown }[]> {
  const before = runnable.slice(0, runnable.indexOf(block)).join('\n');
  const definitions = before.split('\n').filter((line) => /^(\w+=|\w+\(\) \{)/.test(line));
  const script = [...definitions, block].join('\n');
  expect(script).toMatch(/^GW=\S+$/m);
  const { stdout } = await promisify(execFile)('bash', ['-e', '-c', script.replace(/^GW=\S+$/m, `GW=${demo.gatewayUrl}`)], { cwd: home });
  const answers = stdout.split('\n').filter(Boolean);
  expect(answers).toHaveLength(block.match(REQUEST)!.length);
  return answers.map((line) => JSON.parse(line) as { data?: unknown; errors?: unknown });
}

/** The next event of a subscription that `wanted` (the demo's plant records failures of its own meanwhile). */
async function nextEvent(live: TestSubscription, wanted: (event: any) => boolean) {
  for (;;) {
    const received = await live.next();
    expect(received.errors).toBeUndefined();
    if (wanted(received.data.twinEvents)) return received.data.twinEvents;
  }
}

/** Fails on any null in an answer: an example shows what it selects. */
function everythingPresent(value: unknown, path = 'data'): void {
  expect(value, path).not.toBeNull();
  if (typeof value === 'object') for (const [key, inner] of Object.entries(value!)) everythingPresent(inner, `${path}.${key}`);
}

beforeAll(async () => {
  // The README's commands read the tokens from ./.twinx/demo, where `npx twinx demo` writes them.
  home = await mkdtemp(join(tmpdir(), 'twinx-readme-'));
  demo = await runDemo({
    dataDir: join(home, '.twinx', 'demo'),
    port: 0,
    subjectPrefix: 'twinx_demo',
    logger: createLogger('demo', process.env.LOG_LEVEL ?? 'silent'),
  });
}, 300_000);
afterAll(async () => {
  await demo?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('the README’s examples against the demo network', () => {
  it('has the examples this test runs', () => {
    expect(shellExamples.length).toBeGreaterThan(0);
    expect(graphqlExamples.length).toBeGreaterThan(0);
  });

  it.each(shellExamples.map((block) => [block.split('\n').find((line) => line.startsWith('#')), block]))('shell: %s', async (_title, block) => {
    for (const answer of await run(block)) {
      expect(answer.errors).toBeUndefined();
      everythingPresent(answer.data);
    }
  });

  it('stopping Initech’s furnace for three days hits ACME’s line as the walk-through says', async () => {
    const [answer] = await run(shellExamples.find((block) => block.includes('impact(of: { twinId: \\"initech:furnace-1\\", hours: 72 }'))!);
    const line = answer!.data.impact.affected.find((twin: { twinId: string }) => twin.twinId === 'acme:line-1');
    // Through the CNC mill first (stopped 57–87 h), then through the press (half rate 88–94 h).
    expect(line).toMatchObject({ org: 'acme', tier: 3, via: 'acme:cnc-1', capacityLost: 1 });
    expect(line.hoursToImpact).toBeCloseTo(57, 6);
    expect(line.durationHours).toBeCloseTo(37, 6);
    expect(line.unitsLost).toBeCloseTo(660, 6);
    expect(line.losses.map((loss: { share: number }) => loss.share)).toEqual([1, 0.5]);
    expect(answer!.data.impact.unknown).toEqual([]);
  });

  it('helps ACME’s line with castings in stock, and spares it with a second coil mill as well, as the walk-through says', async () => {
    const [answer] = await run(shellExamples.find((block) => block.includes('{ whatIf('))!);
    const line = (name: string) =>
      answer!.data.whatIf
        .find((scenario: { name: string }) => scenario.name === name)
        .impact.affected.find((twin: { twinId: string }) => twin.twinId === 'acme:line-1');
    expect(line('as is').hoursToImpact).toBeCloseTo(57, 6);
    expect(line('castings in stock')).toMatchObject({ capacityLost: 0.5 });
    expect(line('castings in stock').hoursToImpact).toBeCloseTo(88, 6);
    expect(line('castings in stock').durationHours).toBeCloseTo(6, 6);
    expect(line('and a second coil mill')).toBeUndefined();
  });

  it('warns ACME’s dashboard of the furnace’s failure, and clears the warning with its repair', async () => {
    const client = connect(demo.gatewayUrl, demo.engineerHeaders);
    try {
      const live = subscribe(client, impactSubscription);
      await eventually(async () => expect(await subscriptionsServed(demo.gatewayUrl)).toBe(1));
      const [failed] = await run(recording('recordFailure'));
      expect(failed!.errors).toBeUndefined();
      const warning = await nextEvent(live, (event) => event.disruption.twinId === 'initech:furnace-1' && event.disruption.state === 'OPEN');
      // The furnace stops for its mean time to repair, three days: the line is hit as the walk-through says.
      expect(warning).toMatchObject({ type: 'IMPACT', twinId: 'initech:furnace-1', disruption: { cause: 'STOPPED', capacity: 0 } });
      expect(Date.parse(warning.disruption.to) - Date.parse(warning.disruption.from)).toBe(72 * 3_600_000);
      const line = warning.impact.affected.find((twin: { twinId: string }) => twin.twinId === 'acme:line-1');
      expect(line).toMatchObject({ tier: 3, via: 'acme:cnc-1', capacityLost: 1 });
      expect(line.hoursToImpact).toBeCloseTo(57, 6);
      expect(warning.impact.unknown).toEqual([]);
      const [repaired] = await run(recording('recordRepair'));
      expect(repaired!.errors).toBeUndefined();
      const cleared = await nextEvent(live, (event) => event.disruption.id === warning.disruption.id && event.disruption.state === 'CLEARED');
      expect(cleared).toMatchObject({ type: 'IMPACT', twinId: 'initech:furnace-1' });
      await live.close();
    } finally {
      await client.dispose();
    }
  });

  it.each(
    graphqlExamples.filter((block) => block !== impactSubscription).map((block) => [getOperationAST(parse(block))?.name?.value ?? block.split('\n')[0], block]),
  )('GraphQL: %s', async (_title, block) => {
    // Queries are shown as `gq` commands; GraphQL blocks are what only a WebSocket runs.
    expect(getOperationAST(parse(block))?.operation).toBe(OperationTypeNode.SUBSCRIPTION);
    const client = connect(demo.gatewayUrl, demo.engineerHeaders);
    try {
      const live = subscribe(client, block);
      const first = await live.next();
      await live.close();
      expect(first.errors).toBeUndefined();
      everythingPresent(first.data);
      // Resuming after the cursor received gives the events that came after it.
      const cursor = Object.values(first.data as Record<string, { cursor: string }>)[0]!.cursor;
      const resumed = subscribe(client, block, { after: cursor });
      const next = await resumed.next();
      await resumed.close();
      expect(next.errors).toBeUndefined();
      everythingPresent(next.data);
      expect(Object.values(next.data as Record<string, { cursor: string }>)[0]!.cursor).not.toBe(cursor);
    } finally {
      await client.dispose();
    }
  });
});
