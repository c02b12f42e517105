import pg from 'pg';
import type { OpenStore } from './store.ts';

/** A live subscription to a Postgres NOTIFY channel. */
export interface Listening {
  /** One round trip on the listening connection: notifications committed before it have arrived. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens to a NOTIFY channel of a store: a dedicated connection on PostgreSQL (`onLost` is
 * called if it dies), the database itself on PGlite (in this process, it cannot be lost).
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
  return {
    ping: async () => void (await client.query('SELECT 1')),
    close: async () => {
      lost = true;
      await client.end().catch(() => undefined);
    },
  };
}
