import type { WebSocketServer } from 'ws';
import { closeSlow } from './fanout.ts';

/** A ping from the server: a frame header without payload (RFC 6455, 5.2). */
const PING_BYTES = 2;

/**
 * Pings every connection each `intervalMs` (instead of graphql-ws's keep-alive, which ends a
 * connection that has not answered as if it were gone: 1006 to a client that only reads slowly).
 * A connection that has not answered the previous ping by the next one either does not read
 * what it is sent or is gone: if events were sent to it since it last answered, it is closed as
 * too slow (4408, behind the events already on their way, so that a client reading again learns
 * why, and resumes after the last cursor it received); otherwise it is ended at once.
 */
export function keepAlive(server: WebSocketServer, intervalMs: number): void {
  server.on('connection', (socket, request) => {
    const tcp = request.socket;
    let answered = true;
    /** Bytes sent when the last answered ping went out: what the client has read for sure. */
    let read = tcp.bytesWritten;
    let pinged = read;
    socket.on('pong', () => {
      answered = true;
      read = pinged;
    });
    const timer = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      if (!answered) {
        if (tcp.bytesWritten - read > PING_BYTES) closeSlow(socket);
        else socket.terminate();
        return;
      }
      answered = false;
      socket.ping();
      pinged = tcp.bytesWritten;
    }, intervalMs);
    socket.once('close', () => clearInterval(timer));
  });
}
