import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBusSeeds, natsServerAuthConfig, type BusSeeds } from '../../lib/bus/credentials.ts';
import { freePort, spawnNatsServer } from '../../lib/net.ts';

/** The keys a NATS server trusts: its operator (signs accounts) and its system account (pushes them). */
export type NatsTrust = Pick<BusSeeds, 'operator' | 'system'>;

/**
 * A nats-server of the test's own (JetStream on a temporary store), configured as a network
 * operator's is (decentralized JWT auth, lib/bus/credentials.ts), to stop and start again.
 */
export interface OwnNatsServer {
  url: string;
  trust: NatsTrust;
  stop(): Promise<void>;
  /** Kills it (SIGKILL): no chance to close connections or flush anything. */
  kill(): Promise<void>;
  /** Freezes it (SIGSTOP): its connections stay open and nothing is answered, until `resume()` (SIGCONT). */
  pause(): void;
  resume(): void;
  start(): Promise<void>;
  dispose(): Promise<void>;
  /** Lets this process end while the server runs (it is then stopped when the process exits). */
  unref(): void;
}

/** Starts a nats-server trusting `trust` (new keys if none are given). */
export async function startNatsServer(trust?: NatsTrust): Promise<OwnNatsServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'twinx-nats-'));
  const seeds = createBusSeeds(trust);
  const configFile = join(dir, 'nats.conf');
  await writeFile(configFile, await natsServerAuthConfig(seeds, join(dir, 'jwt')));
  let child: ChildProcess | undefined;
  const end = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };
  const server: OwnNatsServer = {
    url: `nats://127.0.0.1:${port}`,
    trust: { operator: seeds.operator, system: seeds.system },
    async start() {
      child = await spawnNatsServer(port, join(dir, 'jetstream'), configFile);
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async dispose() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
    unref() {
      child?.unref();
      // The server itself is stopped as this process exits (spawnNatsServer).
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    },
  };
  await server.start();
  return server;
}
