/**
 * A full disk (an SD card that filled up) is an error that says so: what could not be written,
 * where, and how much room that filesystem has left, instead of a bare `ENOSPC: write`. The
 * callers make sure nothing was half-written and that what served before keeps serving.
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { isRustlessError, RustlessError } from '../errors.js';

const NO_SPACE_TEXT = /no space left on device|database or disk is full|disk quota exceeded/i;

/** True for ENOSPC and EDQUOT from Node, SQLITE_FULL from the registry, and a tool's "No space left on device" (cargo's, Podman's). */
export function isNoSpace(error: unknown): boolean {
  if (error instanceof RustlessError && error.code === 'RUSTLESS_NO_SPACE') return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
  return NO_SPACE_TEXT.test(error instanceof Error ? error.message : String(error));
}

/** `RUSTLESS_NO_SPACE` for `what` (`setting secret X of app Y`) under `where` (a path on the full filesystem). */
export function noSpaceError(what: string, where: string, cause?: unknown): RustlessError {
  return new RustlessError('RUSTLESS_NO_SPACE', `no space left on device: ${what} failed, ${where} is on a full filesystem (${freeSpace(where)}); free some space there and try again: what was serving keeps serving`, {
    cause,
    details: { path: where },
  });
}

/** Runs `fn`; a full disk becomes `noSpaceError(what, where)`, any other error passes through. */
export async function naming<T>(what: string, where: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isNoSpace(error) && !isRustlessError(error, 'RUSTLESS_NO_SPACE')) throw noSpaceError(what, where, error);
    throw error;
  }
}

function freeSpace(path: string): string {
  for (let dir = path; ; dir = dirname(dir)) {
    try {
      const stats = statfsSync(dir);
      return `${formatBytes(stats.bavail * stats.bsize)} free of ${formatBytes(stats.blocks * stats.bsize)}`;
    } catch {
      if (dir === dirname(dir)) return 'free space unknown';
    }
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
