/**
 * Stops an HTTP server without dropping a request, under keep-alive load. Node's own
 * `server.close()` closes every idle keep-alive connection at once, which races with a client
 * sending its next request on it (that request is lost, the client sees a reset), and leaves
 * busy connections open for as long as their clients keep sending. Here instead:
 *
 * - the listener closes (systemd keeps the socket: new connections wait for the next gateway);
 * - every response still to go out says `connection: close`, and Node closes its connection
 *   once it is sent, so a busy client reconnects after its current request;
 * - an idle connection is closed only when no request can be on its way: a client is told
 *   `keep-alive: timeout=N` and does not reuse a connection idle for that long, so one idle
 *   since then is safe to close; a client that sends before it gets `connection: close`.
 * - whatever is left after `deadlineMs` (a stuck request, a log stream) is cut.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

export interface Drainer {
  /** Resolves once every connection has closed; `deadlineMs` caps the wait. */
  drain(deadlineMs: number): Promise<void>;
  /** Requests not yet answered (a log stream counts until it ends). */
  openRequests(): number;
  /** When a request last came or ended (`Date.now()`); when tracking began, before any. */
  lastRequestAt(): number;
}

interface Connection {
  /** Responses not yet finished. */
  open: Set<ServerResponse>;
  /** When its last response finished (or it connected), for idle ones. */
  idleSince: number;
}

/** Tracks `server`'s connections from now on; call before it serves. */
export function drainable(server: Server): Drainer {
  const connections = new Map<Socket, Connection>();
  let closing = false;
  let unanswered = 0;
  let lastRequestAt = Date.now();

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { open: new Set(), idleSince: Date.now() });
    socket.once('close', () => connections.delete(socket));
  });
  // Before the request handler, which may answer at once (a 404).
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const connection = connections.get(req.socket);
    if (!connection) return;
    connection.open.add(res);
    unanswered++;
    lastRequestAt = Date.now();
    if (closing) res.shouldKeepAlive = false;
    res.once('close', () => {
      connection.open.delete(res);
      unanswered--;
      connection.idleSince = lastRequestAt = Date.now();
    });
  });

  return {
    openRequests: () => unanswered,
    lastRequestAt: () => lastRequestAt,
    drain(deadlineMs: number): Promise<void> {
      closing = true;
      // A client that was told keep-alive for this long will not send on a connection idle longer.
      const quietMs = Math.max(0, server.keepAliveTimeout);
      return new Promise<void>((resolve) => {
        const started = Date.now();
        const finish = (): void => {
          clearInterval(sweep);
          clearTimeout(cut);
          resolve();
        };
        const check = (): void => {
          const now = Date.now();
          for (const [socket, connection] of connections) {
            for (const res of connection.open) if (!res.headersSent) res.shouldKeepAlive = false;
            if (connection.open.size === 0 && now - connection.idleSince >= quietMs) socket.destroy();
          }
          if (connections.size === 0 && !server.listening) finish();
        };
        const sweep = setInterval(check, 100);
        const cut = setTimeout(() => {
          for (const socket of connections.keys()) socket.destroy();
          finish();
        }, Math.max(0, deadlineMs - (Date.now() - started)));
        // net.Server's close, not http.Server's: that one would close idle connections at once.
        if (server.listening) NetServer.prototype.close.call(server, () => check());
        check();
      });
    },
  };
}
