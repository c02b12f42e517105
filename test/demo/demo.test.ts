import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { reachable } from '../../lib/net.ts';
import { graphql } from '../support/graphql.ts';
import { eventually } from '../support/services.ts';

const TWINX = new URL('../../bin/twinx.mjs', import.meta.url).pathname;
/** A log line at warning level or above. */
const WARNING = /"level":(40|50|60)/;

/**
 * `twinx demo` on `dataDir` at the default log level, as the README runs it (without the test
 * runner's NODE_ENV, under which Apollo Server leaves signals alone), once it says it is up.
 */
async function startDemo(dataDir: string) {
  const env = { ...process.env };
  delete env.NODE_ENV;
  // In a process group of its own, as a shell runs a command: Ctrl-C signals the whole group.
  const demo = spawn(process.execPath, [TWINX, 'demo', '--data-dir', dataDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  let output = '';
  demo.stderr.on('data', (chunk) => (output += chunk));
  const exited = once(demo, 'exit');
  /**
   * SIGINT to the demo's process alone (as a supervisor stops it), or to its process group (Ctrl-C
   * in the terminal): it exits 0, its nats-server gone before it.
   */
  let stopped: Promise<void> | undefined;
  const stop = (to: 'process' | 'group' = 'process') =>
    (stopped ??= (async () => {
      const natsPort = Number(/NATS +nats:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
      process.kill(to === 'group' ? -demo.pid! : demo.pid!, 'SIGINT');
      const [code] = await exited;
      expect(code, output).toBe(0);
      expect(await reachable(natsPort)).toBe(false);
    })());
  try {
    await new Promise<void>((resolve, reject) => {
      demo.stdout.on('data', (chunk) => {
        output += chunk;
        if (output.includes('Ctrl-C stops it.')) resolve();
      });
      demo.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${output}`)));
    });
  } catch (error) {
    process.kill(-demo.pid!, 'SIGKILL');
    throw error;
  }
  return { output: () => output, stop };
}

/** The tokens file the demo writes on each start. */
async function demoTokens(dataDir: string) {
  return JSON.parse(await readFile(join(dataDir, 'tokens.json'), 'utf8')) as {
    gateway: string;
    subjectPrefix: string;
    acmeEngineerHeaders: Record<string, string>;
    initechOperatorHeaders: Record<string, string>;
  };
}

// The first start also uploads the simulated plant's history and trains a health model on it.
it('`twinx demo` runs a whole network on embedded stores, answers through the gateway, stops on Ctrl-C, and starts again', { timeout: 300_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'twinx-demo-'));
  const first = await startDemo(dataDir);
  const output = first.output();
  try {
    const tokens = await demoTokens(dataDir);
    expect(output).toContain(tokens.gateway);
    // Nothing warns: each organization's streams exist before it starts, its store's transactions wait for each other.
    expect(output).not.toMatch(WARNING);
    expect(tokens.subjectPrefix).toBe('twinx_demo');
    // The console, and the demo's people to sign in as, with the tokens the file has.
    const consoleUrl = new URL('/', tokens.gateway).href;
    expect(output).toContain(`console     ${consoleUrl}`);
    const { personas } = (await (await fetch(new URL('/console/personas.json', consoleUrl))).json()) as {
      personas: { id: string; name: string; headers: Record<string, string> }[];
    };
    expect(personas.map((persona) => [persona.id, persona.name])).toEqual([
      ['acme-engineer', 'ACME engineer'],
      ['acme-planner', 'ACME planner'],
      ['acme-admin', 'ACME admin'],
      ['globex-admin', 'Globex admin'],
      ['initech-admin', 'Initech admin'],
      ['initech-operator', 'Initech operator'],
    ]);
    expect(personas[0]!.headers).toEqual(tokens.acmeEngineerHeaders);
    expect(personas[5]!.headers).toEqual(tokens.initechOperatorHeaders);
    const query = `{ twins(first: 20) { edges { node { id name state { status } suppliedBy { id } } } } }`;
    const answer = await graphql(tokens.gateway, query, undefined, tokens.acmeEngineerHeaders);
    expect(answer.errors).toBeUndefined();
    expect(answer.data.twins.edges.map((e: any) => e.node.id)).toEqual([
      'acme:cnc-1',
      'acme:line-1',
      'acme:press-1',
      'globex:mill-1',
      'globex:mill-2',
      'initech:caster-1',
      'initech:furnace-1',
    ]);
    // The simulated sensors feed every organization's twins.
    await eventually(async () => {
      const live = await graphql(tokens.gateway, query, undefined, tokens.acmeEngineerHeaders);
      expect(live.data.twins.edges.every((e: any) => e.node.state.status !== 'UNKNOWN')).toBe(true);
    });
    // The wearing CNC mill has health and a remaining life from the start: its kind's model learned
    // from the six runs to failure of its history, each ended by a failure and its repair.
    const analytics = `{
      cnc: twin(id: "acme:cnc-1") { health { index p50 unit } maintenance(first: 20) { edges { node { type note } } } }
      mill: twin(id: "globex:mill-1") { health { index } maintenance(first: 1) { edges { node { type } } } }
    }`;
    await eventually(async () => {
      const answer = await graphql(tokens.gateway, analytics, undefined, tokens.acmeEngineerHeaders);
      expect(answer.errors).toBeUndefined();
      expect(answer.data.cnc.health).toMatchObject({ unit: 'hours' });
      expect(answer.data.cnc.maintenance.edges.map((e: any) => e.node)).toEqual(
        Array.from({ length: 6 }, () => [
          { type: 'REPAIR', note: 'simulated' },
          { type: 'FAILURE', note: 'simulated' },
        ]).flat(),
      );
      // A supplier's analytics under its grant: no model for its mills, and nothing refused.
      expect(answer.data.mill).toEqual({ health: null, maintenance: { edges: [] } });
    });
    await first.stop();
    // Nothing warned while it ran either, nor as it stopped.
    expect(first.output()).not.toMatch(WARNING);
    // A second start on the same stores: the organizations are registered already, and the
    // directory finds them up; nothing warns.
    const second = await startDemo(dataDir);
    try {
      const restarted = await demoTokens(dataDir);
      const again = await graphql(restarted.gateway, query, undefined, restarted.acmeEngineerHeaders);
      expect(again.errors).toBeUndefined();
      expect(again.data.twins.edges).toHaveLength(7);
    } finally {
      await second.stop('group');
    }
    // Nor as it stopped on Ctrl-C, which its NATS server, in a process group of its own, does not get: the services drain their connections first.
    expect(second.output()).not.toMatch(WARNING);
  } finally {
    await first.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
