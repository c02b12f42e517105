import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getOperationAST, OperationTypeNode, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../demo/network.ts';
import { createLogger } from '../../lib/logger.ts';
import { connect, subscribe } from '../support/subscriptions.ts';

/**
 * The README's examples, run as a reader would run them against `twinx demo`: the shell blocks
 * that query the gateway with `gq`, and every GraphQL block, with the demo's own (30-day) tokens.
 */
const README = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
const fenced = (language: string) => [...README.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\``, 'gm'))].map((match) => match[1]!);
const shellExamples = fenced('sh').filter((block) => /^gq '/m.test(block));
const graphqlExamples = fenced('graphql');

let home: string;
let demo: Awaited<ReturnType<typeof runDemo>>;

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
    // The gateway's address as the README sets it (the demo's default port), here this demo's.
    expect(block).toMatch(/^GW=\S+$/m);
    const { stdout } = await promisify(execFile)('bash', ['-e', '-c', block.replace(/^GW=\S+$/m, `GW=${demo.gatewayUrl}`)], { cwd: home });
    const answers = stdout.split('\n').filter(Boolean);
    expect(answers).toHaveLength(block.match(/^gq '/gm)!.length);
    for (const answer of answers.map((line) => JSON.parse(line) as { data?: unknown; errors?: unknown })) {
      expect(answer.errors).toBeUndefined();
      everythingPresent(answer.data);
    }
  });

  it.each(graphqlExamples.map((block) => [getOperationAST(parse(block))?.name?.value ?? block.split('\n')[0], block]))('GraphQL: %s', async (_title, block) => {
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
