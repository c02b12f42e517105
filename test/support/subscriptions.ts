import { jetstreamManager } from '@nats-io/jetstream';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { encodeCursor } from '../../lib/cursor.ts';
import { natsNames, type NatsConnection } from '../../lib/nats.ts';

export interface Received {
  data?: any;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A subscription over a real graphql-ws client, read one result at a time. */
export interface TestSubscription {
  /** The next result (waits for it). */
  next(): Promise<Received>;
  /** Resolves when the server completed the subscription. */
  completed: Promise<void>;
  /** Resolves with the error when the subscription failed as a whole. */
  failed: Promise<unknown>;
  close(): Promise<void>;
}

function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

/** Opens a graphql-ws connection presenting tokens in connection_init, as the HTTP headers would. */
export function connect(httpUrl: string, headers: Record<string, string>): Client {
  return createClient({
    url: wsUrl(httpUrl),
    webSocketImpl: WebSocket,
    connectionParams: headers,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
  });
}

export function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}): TestSubscription {
  const queue: Received[] = [];
  const waiters: ((item: Received) => void)[] = [];
  let complete!: () => void;
  let fail!: (error: unknown) => void;
  const completed = new Promise<void>((resolve) => (complete = resolve));
  const failed = new Promise<unknown>((resolve) => (fail = resolve));
  const dispose = client.subscribe<any>(
    { query, variables },
    {
      next: (value) => {
        const waiter = waiters.shift();
        if (waiter) waiter(value as Received);
        else queue.push(value as Received);
      },
      error: (error) => fail(error),
      complete: () => complete(),
    },
  );
  return {
    next: () => {
      const item = queue.shift();
      return item ? Promise.resolve(item) : new Promise((resolve) => waiters.push(resolve));
    },
    completed,
    failed,
    close: async () => dispose(),
  };
}

/**
 * A graphql-transport-ws client at the protocol level, for what the full client hides: many
 * sockets at little cost, or a socket that stops reading. Resolves once the subscription is sent.
 */
export async function protocolSubscriber(
  httpUrl: string,
  headers: Record<string, string>,
  query: string,
  onNext: (payload: Received) => void,
): Promise<WebSocket> {
  const socket = new WebSocket(wsUrl(httpUrl), 'graphql-transport-ws');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
        resolve();
      } else if (message.type === 'next') onNext(message.payload);
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: headers })));
  });
  return socket;
}

/** How many subscriptions a gateway serves (its readiness report). */
export async function subscriptionsServed(gatewayUrl: string): Promise<number> {
  return ((await (await fetch(gatewayUrl.replace('/graphql', '/readyz'))).json()) as { subscriptions: number }).subscriptions;
}

/**
 * A cursor at the end of the event stream: subscribing after it receives every later event,
 * however long the subscription takes to start (no race with what the test does next).
 */
export async function endOfStream(net: { nats: NatsConnection; subjectPrefix: string }): Promise<string> {
  const jsm = await jetstreamManager(net.nats);
  return encodeCursor('event', String((await jsm.streams.info(natsNames(net.subjectPrefix).eventsStream)).state.last_seq));
}
