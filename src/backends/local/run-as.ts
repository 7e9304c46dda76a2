/**
 * Who the local backend's builds and runners run as. A gateway started as root (`sudo npm
 * start`) must not hand root to every `build.rs` and function: they run as the system user
 * `rustless-fn` (created by scripts/setup-system.mjs), else as `nobody`, with no supplementary
 * groups, and write only to their own directories (see sandbox-dir.ts).
 */
import { constants } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RustlessError } from '../../errors.js';
import { runCommand } from '../../process/run-command.js';

export const BUILD_USER = 'rustless-fn';
const FALLBACK_USER = 'nobody';

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/** The user to drop to, or undefined when this process is not root (nothing to drop). */
export async function unprivilegedUser(uid = process.getuid?.() ?? -1): Promise<RunAs | undefined> {
  if (uid !== 0) return undefined;
  for (const user of [BUILD_USER, FALLBACK_USER]) {
    const entry = await runCommand('getent', ['passwd', user]);
    const fields = entry.stdout.split(':');
    if (entry.exitCode === 0 && fields.length >= 4) return { user, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new RustlessError('RUSTLESS_BACKEND_FAILED', `running as root, and neither the user ${BUILD_USER} nor ${FALLBACK_USER} exists to run builds and functions as; create it: npx zx scripts/setup-system.mjs --user-only`);
}

/** Undefined when every directory above `path` lets others through (o+x); else the first that does not. */
export async function blockedAncestor(path: string): Promise<string | undefined> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info && (info.mode & constants.S_IXOTH) === 0) return dir;
    if (dir === '/') return undefined;
  }
}

