import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether something accepts TCP connections on the port. */
export function reachable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** A TCP port free on the loopback interface right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** How long a nats-server started here may take to accept connections. */
const NATS_START_MS = 10_000;

/**
 * Starts `nats-server` from PATH, with JetStream storing in `storeDir`, on a loopback port, with
 * the given configuration file (e.g. a network's, see `twinx network init`), and resolves once it
 * accepts connections. Throws when it cannot run, exits, or is not accepting within 10 s (it is
 * then stopped). It is the caller's to stop: in a process group of its own, a Ctrl-C in the
 * terminal (or a signal to the caller's group) does not take it away while the caller's services,
 * still connected, stop; it is stopped when the caller's process exits, if not before.
 */
export async function spawnNatsServer(port: number, storeDir: string, configFile?: string): Promise<ChildProcess> {
  const config = configFile ? ['-c', configFile] : [];
  const child = spawn('nats-server', [...config, '-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', detached: true });
  const stopWithCaller = () => child.kill('SIGTERM');
  process.once('exit', stopWithCaller);
  let failure: Error | undefined;
  child.on('error', (error) => (failure = error));
  child.once('exit', (code, signal) => {
    process.off('exit', stopWithCaller);
    failure ??= new Error(`nats-server exited (${signal ?? code})`);
  });
  const deadline = Date.now() + NATS_START_MS;
  while (!(await reachable(port))) {
    if (failure) throw failure;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`nats-server is not accepting connections on port ${port}`);
    }
    await sleep(100);
  }
  return child;
}
