/**
 * The regular files below a crate's directory, `target/` directories left out, depth first in
 * code-unit order of their names (not a locale's): what a hash of a crate's sources walks, so
 * the same tree gives the same hash on every machine.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function* crateFiles(dir: string): AsyncGenerator<string> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'target') yield* crateFiles(path);
    } else if (entry.isFile()) {
      yield path;
    }
  }
}
