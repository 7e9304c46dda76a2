/**
 * A listening unix socket to hand to a child as fd 3, the way systemd hands one to a service.
 *
 * Node cannot hold a listening socket without accepting on it, so the parent only creates it:
 * it listens on a temporary name, renames the socket file into place (libuv unlinks the name
 * it bound when the server closes, and the temporary name is gone by then), and the caller
 * closes the server right after spawning. The child's copy of the fd keeps the socket alive.
 */
import { createServer, type Server } from 'node:net';
import { rename, rm } from 'node:fs/promises';

export interface ListeningSocket {
  fd: number;
  /** Closes the parent's copy; call it once the child holds the fd. */
  close(): Promise<void>;
}

export async function createListeningSocket(path: string): Promise<ListeningSocket> {
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  await rm(path, { force: true });
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: temporary, backlog: 511 }, resolve);
  });
  await rename(temporary, path);
  // `_handle.fd` is how node's own cluster module reaches a server's descriptor on Unix.
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  return {
    fd,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
