/**
 * The gateway's state dir when its runners run as another user (run-as.ts): that user must
 * pass through it to its data and secrets directories, and see nothing else. So the state dir
 * and the directories on the way are 0711 (enter, not list), the gateway's own ones (builds,
 * uploads, stored secrets, the registry) are root's alone, and each app's data directory and
 * delivered secrets belong to the runner's user.
 */
import { chmod, open } from 'node:fs/promises';
import { join } from 'node:path';
import { blockedAncestor, type RunAs } from './run-as.js';
import { makeDirectory } from '../../storage/make-directory.js';

const PASS_THROUGH = ['', 'run', join('run', 'secrets'), 'data'];
const PRIVATE = ['builds', 'uploads', 'secrets', 'cache'];
const REGISTRY = 'rustless.db';

/**
 * Lays the state dir out for `runAs`. Resolves with a one-line warning when a directory above it
 * is closed to that user: apps without data or secrets still work, the others cannot reach theirs.
 */
export async function openStateDirTo(stateDir: string, runAs: RunAs): Promise<string | undefined> {
  const blocked = await blockedAncestor(stateDir);
  for (const dir of PASS_THROUGH) {
    await makeDirectory(join(stateDir, dir), 0o711);
    await chmod(join(stateDir, dir), 0o711);
  }
  for (const dir of PRIVATE) {
    await makeDirectory(join(stateDir, dir), 0o700);
    await chmod(join(stateDir, dir), 0o700);
  }
  // SQLite keeps an existing file's mode (and gives its -wal and -shm files the same).
  await (await open(join(stateDir, REGISTRY), 'a', 0o600)).close();
  await chmod(join(stateDir, REGISTRY), 0o600);
  if (!blocked) return undefined;
  return `rustless: functions run as ${runAs.user}, which cannot reach the state dir ${stateDir} (${blocked} lets no one else through): apps' data directories and secrets are out of their reach; use --state-dir in a directory others can enter (the default as root is /var/lib/rustless-local)`;
}
