import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { freePort, reachable } from '../../lib/net.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './services.ts';

/** A nats-server of the test's own (JetStream on a temporary store), to stop and start again. */
export interface OwnNatsServer {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startNatsServer(): Promise<OwnNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'twinx-nats-'));
  let child: ChildProcess | undefined;
  const server: OwnNatsServer = {
    url: `nats://127.0.0.1:${port}`,
    async start() {
      child = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      await eventually(
        async () => {
          if (!(await reachable(port))) throw new Error(`nats-server is not accepting on ${port} yet`);
        },
        { timeout: 10_000 },
      );
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
    async dispose() {
      await server.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
