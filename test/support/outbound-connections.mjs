// Loaded into a service's process with `--import`: records every TCP connection it opens (the
// host and port it was asked for, before any name lookup), one JSON line each, in the file named
// by TWINX_TEST_CONNECTIONS. Node's `net` is what every client here connects through (undici's
// fetch, http, pg, NATS).
import { appendFileSync } from 'node:fs';
import net from 'node:net';

const file = process.env.TWINX_TEST_CONNECTIONS;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // `net.connect` passes its arguments on normalized, as an array.
  const [first, second] = Array.isArray(args[0]) ? args[0] : args;
  const options = typeof first === 'object' && first !== null ? first : { port: first, host: typeof second === 'string' ? second : undefined };
  // A Unix socket (`path`) is this machine's, not a network connection.
  if (typeof options.path !== 'string') appendFileSync(file, `${JSON.stringify({ host: options.host ?? 'localhost', port: Number(options.port) })}\n`);
  return connect.apply(this, args);
};
