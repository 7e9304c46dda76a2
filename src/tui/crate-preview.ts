/**
 * What the deploy screen shows before anything is uploaded: the crate's rustless.toml, validated
 * here exactly as the gateway will, so mistakes show in place without a round trip.
 */
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { loadManifest, type AppManifest } from '../manifest/manifest.js';

export type CratePreview = { ok: true; dir: string; manifest: AppManifest } | { ok: false; dir: string; message: string };

export async function previewCrate(input: string, cwd = process.cwd()): Promise<CratePreview> {
  const dir = resolve(cwd, expandHome(input.trim()));
  try {
    const cargo = await readFile(join(dir, 'Cargo.toml'), 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(error.code === 'ENOENT' ? `${dir}: no Cargo.toml here (a function app is a Rust library crate)` : `${join(dir, 'Cargo.toml')}: ${error.message}`);
    });
    let crateName: string | undefined;
    try {
      const pkg = (parseToml(cargo) as { package?: { name?: unknown } }).package;
      crateName = typeof pkg?.name === 'string' ? pkg.name : undefined;
    } catch (error) {
      throw new Error(`${join(dir, 'Cargo.toml')}: not valid TOML: ${(error as Error).message.split('\n')[0]}`);
    }
    return { ok: true, dir, manifest: await loadManifest(dir, crateName) };
  } catch (error) {
    return { ok: false, dir, message: (error as Error).message };
  }
}

/**
 * Tab completion for a directory path: the longest common prefix of the subdirectories that
 * start with what was typed (a trailing `/` when exactly one matches).
 */
export function completePath(input: string, cwd = process.cwd()): string {
  const typed = expandHome(input);
  const full = resolve(cwd, typed || '.');
  const [parent, prefix] = typed.endsWith('/') || typed === '' ? [full, ''] : [dirname(full), basename(full)];
  let names: string[];
  try {
    names = readdirSync(parent).filter((name) => name.startsWith(prefix) && !name.startsWith('.') && isDir(join(parent, name)));
  } catch {
    return input;
  }
  if (names.length === 0) return input;
  const common = names.reduce((a, b) => {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    return a.slice(0, i);
  });
  const completed = input.slice(0, input.length - prefix.length) + common;
  return names.length === 1 ? `${completed}/` : completed;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(process.env.HOME ?? '', path.slice(1)) : path;
}
