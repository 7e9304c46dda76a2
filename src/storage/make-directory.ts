/**
 * `mkdir -p` that tells the truth on a full disk. Node's promise `mkdir(path, { recursive: true })`
 * reports ENOSPC as ENOENT (it stats the path after the failed mkdir and rejects with that; seen
 * with Node 20 on a full ext4), so a deploy on a full SD card said `ENOENT: no such file or
 * directory, mkdir '/var/lib/rustless/uploads'`. Only on a failure does this ask again with the
 * synchronous call, which reports the real error.
 */
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';

/** Creates `path` and its missing parents (`mode` for those it creates); the first one created, as `mkdir` returns. */
export async function makeDirectory(path: string, mode?: number): Promise<string | undefined> {
  const options = { recursive: true as const, ...(mode === undefined ? {} : { mode }) };
  try {
    return await mkdir(path, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return mkdirSync(path, options);
  }
}
