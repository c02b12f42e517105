import { createServer, connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/db/notify.ts';
import { openStore } from '../../lib/db/store.ts';
import { createDatabase, Disposers, onServer } from '../support/services.ts';

const disposers = new Disposers();
afterAll(() => disposers.dispose());

/** A TCP relay to the database's server that can go silent: bytes stop flowing, nothing is closed (a network gone quiet). */
async function silenceableRelay(databaseUrl: string): Promise<{ url: string; silence: () => void }> {
  const target = new URL(databaseUrl);
  let silent = false;
  const sockets: Socket[] = [];
  const relay = createServer((client) => {
    const server = connect(Number(target.port || 5432), target.hostname);
    sockets.push(client, server);
    const pipe = (from: Socket, to: Socket) => {
      from.on('data', (data) => silent || to.write(data));
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    };
    pipe(client, server);
    pipe(server, client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  disposers.add(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => relay.close(resolve));
  });
  const url = new URL(databaseUrl);
  url.host = `127.0.0.1:${(relay.address() as { port: number }).port}`;
  return { url: url.toString(), silence: () => (silent = true) };
}

describe('listening to a NOTIFY channel', () => {
  it('hears notifications, and finds a connection that went silent lost', async () => {
    const database = await createDatabase();
    disposers.add(database.drop);
    const relay = await silenceableRelay(database.url);
    const store = openStore(relay.url);
    disposers.add(store.close);
    let hear!: (payload: string) => void;
    let lose!: (error?: Error) => void;
    const heard = new Promise<string>((resolve) => (hear = resolve));
    const lost = new Promise<Error | undefined>((resolve) => (lose = resolve));
    const listening = await listen(store, 'twinx_test', { name: 'twinx-test-listener', onMessage: hear, onLost: lose });
    disposers.add(() => listening.close());
    await onServer((client) => client.query(`NOTIFY twinx_test, 'hello'`), database.url);
    expect(await heard).toBe('hello');
    relay.silence();
    expect((await lost)?.message).toMatch(/heartbeat timed out/);
  });
});
