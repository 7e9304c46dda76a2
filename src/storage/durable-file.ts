/**
 * Files that survive a power cut: what rust-less acknowledges (a secret that was set, a unit of a
 * build reported live) must be on the disk, whole, before the answer goes out. A write to a
 * temporary file, an fsync of it, a rename over the target and an fsync of the directory leave
 * the old content or the new one after a cut, never half of either, and never the old one once
 * this resolved. Without the file's fsync ext4 may keep the rename and lose the data (an empty
 * file); without the directory's, the rename itself may be lost.
 */
import { execFile } from 'node:child_process';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { makeDirectory } from './make-directory.js';

/** Writes `data` to `file` atomically and durably (see above); a failed write leaves no temporary file. */
export async function writeFileDurable(file: string, data: string | Uint8Array, { mode = 0o600 }: { mode?: number } = {}): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const handle = await open(tmp, 'w', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncDir(dirname(file));
}

/**
 * `writeFileDurable` unless `file` already holds exactly `text` (its directory made if need be);
 * true when it wrote. A gateway start rewrites nothing, so it needs no free space and wears nothing.
 */
export async function writeFileIfChanged(file: string, text: string, options: { mode?: number } = {}): Promise<boolean> {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await makeDirectory(dirname(file));
  await writeFileDurable(file, text, options);
  return true;
}

/** Removes `file` durably: the removal is on the disk when this resolves. */
export async function removeFileDurable(file: string): Promise<void> {
  await rm(file, { force: true });
  await syncDir(dirname(file));
}

/** fsync of a directory: makes the creations, renames and removals of its entries durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes the whole filesystems holding `paths` (syncfs, through `sync -f`): for trees written
 * by other programs (cargo's binary, Podman's image layers) that rust-less cannot fsync file by
 * file. Called once per build, before the build is recorded as succeeded.
 */
export async function syncFilesystems(paths: readonly string[]): Promise<void> {
  if (paths.length > 0) await promisify(execFile)('sync', ['-f', ...paths]);
}
