/**
 * Packs a function app's crate directory into the `.tar.gz` the admin API accepts. The files sit
 * at the archive root (no prefix directory), which is what `unpackUpload` expects.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { RustlessError } from '../errors.js';

/** VCS data and JS dependencies are never crate sources, wherever they appear. */
const SKIPPED_ANYWHERE = new Set(['.git', 'node_modules']);

/** Packs `dir` (sources only) into a gzip-compressed tar, for upload. */
export async function packCrate(dir: string): Promise<Buffer> {
  const root = await lstat(dir).catch((error: unknown) => {
    throw new RustlessError('RUSTLESS_INVALID_UPLOAD', `${dir}: cannot read the crate directory (${(error as Error).message})`, { cause: error });
  });
  if (!root.isDirectory()) throw new RustlessError('RUSTLESS_INVALID_UPLOAD', `${dir}: not a directory`);

  const pack = tar.pack();
  const gzip = createGzip();
  const chunks: Buffer[] = [];
  const finished = new Promise<Buffer>((resolve, reject) => {
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    gzip.on('end', () => resolve(Buffer.concat(chunks)));
    gzip.on('error', reject);
    pack.on('error', reject);
  });
  pack.pipe(gzip);

  try {
    await addDir(pack, dir, '');
    pack.finalize();
  } catch (error) {
    pack.destroy();
    gzip.destroy();
    finished.catch(() => {});
    throw error;
  }
  return finished;
}

async function addDir(pack: tar.Pack, dir: string, prefix: string): Promise<void> {
  // Sorted, so the same tree always packs to the same entry order.
  const names = (await readdir(join(dir, prefix))).sort();
  for (const name of names) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const stats = await lstat(join(dir, rel));
    // `target/` is cargo's output only at the crate root; `src/target/` may well be a module.
    if (SKIPPED_ANYWHERE.has(name) || (prefix === '' && name === 'target' && stats.isDirectory())) continue;
    if (stats.isSymbolicLink()) {
      throw new RustlessError(
        'RUSTLESS_INVALID_UPLOAD',
        `${join(dir, rel)}: is a symbolic link; uploads hold regular files and directories only (replace it with a copy of what it points to)`,
        { details: { entry: rel } },
      );
    }
    if (stats.isDirectory()) {
      await entry(pack, { name: `${rel}/`, type: 'directory', mode: 0o755, mtime: stats.mtime });
      await addDir(pack, dir, rel);
    } else if (stats.isFile()) {
      const content = await readFile(join(dir, rel));
      // Only the executable bit matters to a build (scripts); owners and other bits do not travel.
      const mode = stats.mode & 0o111 ? 0o755 : 0o644;
      await entry(pack, { name: rel, type: 'file', mode, mtime: stats.mtime, size: content.length }, content);
    } else {
      throw new RustlessError('RUSTLESS_INVALID_UPLOAD', `${join(dir, rel)}: is neither a regular file nor a directory (socket, fifo or device)`, {
        details: { entry: rel },
      });
    }
  }
}

function entry(pack: tar.Pack, header: Parameters<tar.Pack["entry"]>[0], content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, content ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
  });
}
