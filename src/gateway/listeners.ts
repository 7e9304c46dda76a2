/**
 * Where the gateway listens: sockets handed over by systemd (LISTEN_FDS, named by
 * LISTEN_FDNAMES `http` and `admin`), or addresses it binds itself.
 */
import type { Server } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RustlessError } from '../errors.js';
import { makeDirectory } from '../storage/make-directory.js';

export type ListenTarget = { fd: number } | { port: number; host: string } | { path: string };

const SD_LISTEN_FDS_START = 3;

/** The sockets systemd passed, by name; empty when not socket-activated (or meant for another pid). */
export function inheritedSockets(env: NodeJS.ProcessEnv = process.env): Map<string, number> {
  const count = Number(env.LISTEN_FDS ?? 0);
  const pid = Number(env.LISTEN_PID ?? 0);
  const sockets = new Map<string, number>();
  if (!count || (pid && pid !== process.pid)) return sockets;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  for (let i = 0; i < count; i++) sockets.set(names[i] || `fd${i}`, SD_LISTEN_FDS_START + i);
  // Children (the local backend's runners) must not think these are theirs.
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  return sockets;
}

export async function listen(server: Server, target: ListenTarget, mode?: number): Promise<void> {
  if ('path' in target) {
    await makeDirectory(dirname(target.path));
    await rm(target.path, { force: true });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new RustlessError('RUSTLESS_UNAVAILABLE', `cannot listen on ${describeTarget(target)}: ${error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message}`, { cause: error })),
    );
    server.listen(target, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  if ('path' in target && mode !== undefined) await chmod(target.path, mode);
}

export function describeTarget(target: ListenTarget): string {
  if ('fd' in target) return `fd ${target.fd} (from systemd)`;
  if ('path' in target) return target.path;
  return `http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}
