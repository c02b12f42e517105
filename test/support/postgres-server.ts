import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../lib/net.ts';

const run = promisify(execFile);

/** The installed PostgreSQL's server programs (Debian's layout; `TWINX_TEST_POSTGRES_BIN` elsewhere). */
const BIN = process.env.TWINX_TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of the test's own (trust auth, user `postgres`, on a free loopback port, in a
 * temporary directory), to stop and start again: what a database outage looks like to a service.
 */
export interface OwnPostgresServer {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  /**
   * Stops the server. `fast` (the default) ends open connections with 57P01 `admin_shutdown`;
   * `immediate` kills them as a crash does. `smart` only starts a shutdown that waits for the
   * open connections to end: meanwhile new ones are refused with 57P03 `cannot_connect_now`.
   */
  stop(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * Runs a PostgreSQL program as the `postgres` user when this process is root (the server refuses
 * to run as root), as the current user otherwise.
 */
function pgProgram(program: string, args: string[]): Promise<unknown> {
  const path = join(BIN, program);
  return process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', path, ...args]) : run(path, args);
}

/** Creates a cluster in a temporary directory and starts it. */
export async function startPostgresServer(): Promise<OwnPostgresServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'twinx-pg-'));
  // The postgres user must own the directory it runs in.
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  await pgProgram('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  // Logs in the data directory; no Unix socket (the temporary directory is all it writes to).
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c logging_collector=off`;
  const server: OwnPostgresServer = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await pgProgram('pg_ctl', ['start', '-D', data, '-w', '-t', '30', '-l', join(data, 'server.log'), '-o', options]);
    },
    async stop(mode = 'fast') {
      await pgProgram('pg_ctl', ['stop', '-D', data, mode === 'smart' ? '-W' : '-w', '-t', '30', '-m', mode]);
    },
    async dispose() {
      await server.stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
