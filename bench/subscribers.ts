// The subscribers of bench/subscriptions.ts's fan-out, in a process of their own so that both
// contenders' servers have the machine's cores to themselves alike: opens `sockets` sockets, as
// graphql-ws subscribers of the gateway or as plain WebSocket clients, and on every frame does what
// a client does with it: parses it and reads the metric's value. Tells its parent (IPC) `ready`
// once every socket is open (and its subscription sent), then `done` once `expected` frames came.
//   spawned by bench/subscriptions.ts: node bin/run-ts.mjs bench/subscribers.ts '<SubscribersSpec as JSON>'
import { WebSocket } from 'ws';
import { protocolSubscriber, type Received } from '../test/support/subscriptions.ts';

export interface SubscribersSpec {
  url: string;
  sockets: number;
  expected: number;
  /** A gateway subscription (graphql-transport-ws, these tokens, this query), or plain frames. */
  subscription?: { headers: Record<string, string>; query: string };
}

const spec = JSON.parse(process.argv[2]!) as SubscribersSpec;
let received = 0;
let sum = 0;
const read = (payload: Received) => {
  sum += payload.data.twinEvents.state.metrics[0].value;
  if (++received === spec.expected) process.send!({ done: true, sum });
};
const sockets: WebSocket[] = [];
for (let i = 0; i < spec.sockets; i++) {
  if (spec.subscription) {
    sockets.push(await protocolSubscriber(spec.url, spec.subscription.headers, spec.subscription.query, read));
    continue;
  }
  const socket = new WebSocket(spec.url);
  socket.on('message', (raw) => read(JSON.parse(raw.toString()).payload));
  await new Promise((resolve) => socket.once('open', resolve));
  sockets.push(socket);
}
process.send!({ ready: true });
process.once('disconnect', () => {
  for (const socket of sockets) socket.close();
});
