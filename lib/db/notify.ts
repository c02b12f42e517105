import pg from 'pg';
import type { OpenStore } from './store.ts';

/** A live subscription to a Postgres NOTIFY channel. */
export interface Listening {
  /** One round trip on the listening connection: notifications committed before it have arrived. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** How often a listening connection is checked to be alive, in ms: a silent one is a lost one. */
const HEARTBEAT_MS = 1000;

/**
 * Listens to a NOTIFY channel of a store: a dedicated connection on PostgreSQL (`onLost` is
 * called if it dies, or goes silent: it is pinged every second), the database itself on PGlite
 * (in this process, it cannot be lost).
 */
export async function listen(
  store: OpenStore,
  channel: string,
  options: { name: string; onMessage: (payload: string) => void; onLost: (error?: Error) => void },
): Promise<Listening> {
  if (store.engine === 'pglite') {
    const unlisten = await store.pglite.listen(channel, options.onMessage);
    return { ping: async () => void (await store.pglite.query('SELECT 1')), close: unlisten };
  }
  const client = new pg.Client({ connectionString: store.url, application_name: options.name, keepAlive: true });
  let lost = false;
  const onLost = (error?: Error) => {
    if (lost) return;
    lost = true;
    client.end().catch(() => undefined);
    options.onLost(error);
  };
  client.on('error', onLost);
  client.on('end', () => onLost());
  client.on('notification', (message) => options.onMessage(message.payload ?? ''));
  try {
    await client.connect();
    await client.query(`LISTEN ${channel}`);
  } catch (error) {
    lost = true;
    await client.end().catch(() => undefined);
    throw error;
  }
  const ping = async () => void (await client.query('SELECT 1'));
  const heartbeat = setInterval(() => {
    if (lost) return clearInterval(heartbeat);
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`${options.name}: heartbeat timed out`)), HEARTBEAT_MS).unref());
    Promise.race([ping(), timeout]).catch(onLost);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    ping,
    close: async () => {
      lost = true;
      clearInterval(heartbeat);
      await client.end().catch(() => undefined);
    },
  };
}
