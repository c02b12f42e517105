import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.ts';
import { closeNats, connectNats, natsConnected } from '../../lib/nats.ts';
import { freePort, spawnNatsServer } from '../../lib/net.ts';
import { eventually } from '../support/services.ts';

/** How a service's NATS connection is closed as it stops, with its server there or gone. */

const logger = createLogger('test', process.env.LOG_LEVEL ?? 'silent');
let dir: string;
let server: ChildProcess;
let url: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'twinx-nats-close-'));
  const port = await freePort();
  server = await spawnNatsServer(port, join(dir, 'jetstream'));
  url = `nats://127.0.0.1:${port}`;
});

afterEach(async () => {
  if (server.exitCode === null && server.signalCode === null) {
    server.kill('SIGCONT');
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('closeNats', () => {
  it('drains a connection whose server is there: what it published is delivered first', async () => {
    const publisher = await connectNats(url, 'twinx-test-publisher');
    const subscriber = await connectNats(url, 'twinx-test-subscriber');
    const received: string[] = [];
    subscriber.subscribe('twinx.test', { callback: (_error, message) => void received.push(message.string()) });
    await subscriber.flush();
    publisher.publish('twinx.test', 'last words');
    await closeNats(publisher, logger);
    await closeNats(subscriber, logger);
    expect(publisher.isClosed()).toBe(true);
    expect(received).toEqual(['last words']);
  });

  it('closes a connection whose server is gone, which a drain would leave reconnecting without end', async () => {
    const nats = await connectNats(url, 'twinx-test-orphan');
    nats.subscribe('twinx.test', { callback: () => undefined });
    const exited = once(server, 'exit');
    server.kill('SIGKILL');
    await exited;
    await eventually(async () => expect(natsConnected(nats)).toBe(false));
    await closeNats(nats, logger);
    expect(nats.isClosed()).toBe(true);
  });

  it('closes a connection whose server hangs (it answers nothing, nor closes the connection) once the drain has had its time', async () => {
    const nats = await connectNats(url, 'twinx-test-hung');
    nats.subscribe('twinx.test', { callback: () => undefined });
    await nats.flush();
    server.kill('SIGSTOP');
    // Still taken for connected: a drain would wait for the server without end.
    expect(natsConnected(nats)).toBe(true);
    await closeNats(nats, logger, 200);
    expect(nats.isClosed()).toBe(true);
  });
});
