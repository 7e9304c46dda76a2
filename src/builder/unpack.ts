/**
 * Safe extraction of an uploaded crate (`.tar.gz`). The archive comes from the network, so it is
 * treated as hostile: only regular files and directories, only relative paths that stay inside,
 * and limits on every size. Extraction happens in a fresh temporary directory next to `destDir`
 * and is renamed into place at the end, so a refused upload leaves nothing behind.
 */
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { RustlessError } from '../errors.js';
import { MANIFEST_FILE } from '../manifest/manifest.js';
import { isNoSpace, noSpaceError } from '../storage/no-space.js';
import { makeDirectory } from '../storage/make-directory.js';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './upload-limits.js';

const TAR_BLOCK = 512;

/**
 * Extracts `archive` into `destDir`, which must not exist yet; its parent must. Every refusal is
 * a RUSTLESS_INVALID_UPLOAD or RUSTLESS_UPLOAD_TOO_LARGE naming the entry and the reason.
 */
export async function unpackUpload(archive: Buffer, destDir: string, limits: Partial<UploadLimits> = {}): Promise<void> {
  const max = { ...DEFAULT_UPLOAD_LIMITS, ...limits };
  if (archive.length > max.maxCompressedBytes) {
    throw tooLarge(`the upload is ${archive.length} bytes, over the limit of ${max.maxCompressedBytes} bytes`, { size: archive.length });
  }
  if (await exists(destDir)) throw new RustlessError('RUSTLESS_INTERNAL', `${destDir}: already exists; uploads are extracted into a new directory`);

  const temp = await mkdtemp(join(dirname(destDir), `.${basename(destDir)}.partial-`));
  try {
    await extractInto(archive, temp, max);
    for (const required of ['Cargo.toml', MANIFEST_FILE]) {
      const info = await stat(join(temp, required)).catch(() => undefined);
      if (!info?.isFile()) {
        throw invalid(`the upload has no ${required} at its root; pack the crate directory itself (files at the archive root, no prefix directory)`, {
          entry: required,
        });
      }
    }
    await rename(temp, destDir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

async function extractInto(archive: Buffer, root: string, max: UploadLimits): Promise<void> {
  // Loaded on the first upload, not at gateway start: the idle gateway stays smaller.
  const { default: tar } = await import('tar-stream');
  const extract = tar.extract();
  const gunzip = createGunzip();
  // Headers, padding and end blocks come on top of file contents; anything past this is a bomb.
  const maxDecompressed = max.maxTotalBytes + (max.maxFiles * 3 + 16) * TAR_BLOCK;
  let decompressed = 0;
  // The first refusal wins over the stream errors it causes downstream.
  let refusal: RustlessError | undefined;
  const refuse = (error: RustlessError): void => {
    refusal ??= error;
    gunzip.destroy();
    extract.destroy(error);
  };

  gunzip.on('data', (chunk: Buffer) => {
    decompressed += chunk.length;
    if (decompressed > maxDecompressed) {
      refuse(tooLarge(`the upload decompresses to more than ${maxDecompressed} bytes`, { limit: maxDecompressed }));
    } else if (!extract.write(chunk)) {
      gunzip.pause();
      extract.once('drain', () => gunzip.resume());
    }
  });
  // streamx's end() takes an optional last chunk; its types make it required.
  gunzip.on('end', () => extract.end(undefined));
  gunzip.on('error', (error: Error) => refuse(invalid(`the upload is not a valid gzip stream (${error.message})`, { cause: error })));
  gunzip.end(archive);

  let entries = 0;
  let total = 0;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const name = header.name;
      const shown = showName(name);
      const fail = (reason: string): never => {
        throw invalid(`entry ${shown}: ${reason}`, { entry: name });
      };
      entries += 1;
      if (entries > max.maxFiles) {
        throw tooLarge(`entry ${shown}: the upload holds more than ${max.maxFiles} entries`, { entry: name, limit: max.maxFiles });
      }
      if (name.length > max.maxPathLength) fail(`path is ${name.length} characters long, over the limit of ${max.maxPathLength}`);
      const parts = safeParts(name, fail);

      if (header.type === 'directory') {
        if (parts.length > 0) {
          await makeDirectory(join(root, ...parts)).catch((error: NodeJS.ErrnoException) => {
            if (isNoSpace(error)) throw noSpaceError('unpacking the upload', root, error);
            fail(`cannot be created (${error.code})`);
          });
        }
        entry.resume();
        continue;
      }
      if (header.type !== 'file') {
        fail(`is a ${describeType(header.type)}; uploads may only hold regular files and directories`);
      }
      if (parts.length === 0) fail('is a file without a name');
      const size = header.size ?? 0;
      if (size > max.maxFileBytes) {
        throw tooLarge(`entry ${shown}: file is ${size} bytes, over the limit of ${max.maxFileBytes} bytes for one file`, {
          entry: name,
          size,
          limit: max.maxFileBytes,
        });
      }
      total += size;
      if (total > max.maxTotalBytes) {
        throw tooLarge(`entry ${shown}: files add up to more than ${max.maxTotalBytes} bytes`, { entry: name, limit: max.maxTotalBytes });
      }
      await writeEntry(entry, join(root, ...parts), header.mode ?? 0o644).catch((error: NodeJS.ErrnoException) => {
        if (error.code === undefined) throw error;
        // A full disk is the host's trouble, not the upload's.
        if (isNoSpace(error)) throw noSpaceError('unpacking the upload', root, error);
        if (error.syscall === 'mkdir' || error.code === 'ENOTDIR') fail(`cannot be written (${error.code}): a file is in the way of its directory`);
        if (error.code === 'EEXIST') fail('appears twice in the archive');
        fail(`cannot be written (${error.code})`);
      });
    }
  } catch (error) {
    if (error instanceof RustlessError) refuse(error);
    if (refusal) throw refusal;
    throw invalid(`the upload is not a valid tar archive (${(error as Error).message})`, { cause: error });
  }
  if (refusal) throw refusal;
}

/** Splits an entry path into components, refusing anything that could resolve outside the root. */
function safeParts(name: string, fail: (reason: string) => never): string[] {
  if (name.includes('\0')) fail('path contains a NUL byte');
  if (name.includes('\\')) fail('path contains a backslash; use / as the separator');
  if (name.startsWith('/')) fail('is an absolute path; entries must be relative to the crate root');
  if (/^[A-Za-z]:/.test(name)) fail('starts with a drive letter; entries must be relative to the crate root');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) fail('path has a `..` component; entries must stay inside the crate root');
  return parts;
}

async function writeEntry(entry: AsyncIterable<unknown>, file: string, mode: number): Promise<void> {
  await makeDirectory(dirname(file));
  // `wx`: a later entry never writes through or over what an earlier one created.
  const handle = await open(file, 'wx', mode & 0o111 ? 0o755 : 0o644);
  try {
    for await (const chunk of entry) await handle.write(chunk as Buffer);
  } finally {
    await handle.close();
  }
}

/** Quoted, and cut short: a hostile name may be kilobytes long. */
function showName(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}

function describeType(type: string | null | undefined): string {
  switch (type) {
    case 'symlink':
      return 'symbolic link';
    case 'link':
      return 'hard link';
    case 'character-device':
    case 'block-device':
      return `device file (${type})`;
    case 'fifo':
      return 'fifo';
    default:
      return `${type ?? 'unknown'} entry`;
  }
}

function invalid(message: string, { cause, ...details }: { cause?: unknown; [key: string]: unknown } = {}): RustlessError {
  return new RustlessError('RUSTLESS_INVALID_UPLOAD', message, { cause, details });
}

function tooLarge(message: string, details: Record<string, unknown>): RustlessError {
  return new RustlessError('RUSTLESS_UPLOAD_TOO_LARGE', message, { details });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
