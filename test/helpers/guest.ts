import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * What the e2e tests use of a booted test host (scripts/lib/testhost.mjs is plain JavaScript):
 * `boot()`'s result, typed.
 */
export interface GuestResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface Guest {
  /** The guest's systemd, as a pid on this machine. */
  pid: number;
  run(cmd: string | string[], options?: { input?: string; timeoutMs?: number }): Promise<GuestResult>;
  writeFile(path: string, content: string): Promise<void>;
}

/**
 * `sh -c cmd` in the guest with a clean environment: tap's process-info hook adds
 * NODE_OPTIONS=--import <a host path> to every child, which would break node in the guest.
 */
export function cleanShell(cmd: string): string[] {
  return ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb', '/bin/sh', '-c', cmd];
}

/** The checkout, read-only at `guest` in the test host, and node_modules when it is a link out of it. */
export function checkoutBinds(root: string, guest: string): Array<{ host: string; guest: string; readOnly: boolean }> {
  const binds = [{ host: root, guest, readOnly: true }];
  const modules = realpathSync(resolve(root, 'node_modules'));
  if (!modules.startsWith(`${root}/`)) binds.push({ host: modules, guest: modules, readOnly: true });
  return binds;
}
