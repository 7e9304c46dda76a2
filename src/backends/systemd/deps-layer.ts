/**
 * The shared dependencies: a cargo target directory of every app's usual dependencies (serde,
 * serde_json, syn, the runner's own crates), compiled once by rust-less and copied into each
 * new app's own cache before its first build, so that build compiles only the app.
 *
 * Kept at `/var/cache/rustless/deps/<key>/`, owned by root, read-only to every build (builds run
 * as dynamic users, with `ProtectSystem=strict`). The key hashes all it depends on: the
 * toolchain (cargo's and rustc's versions and paths), the target, the crate source (the
 * `--config` values, and the Debian registry's crate list), RUSTFLAGS and the crates rust-less
 * generates with runner/'s own. A change in any of them makes a new key: the layer is built
 * again (from a copy of the old one when rustc is the same), the old one removed, and each
 * app's cache re-seeded on its next build.
 *
 * It is built in a sandbox like an app's (`rustless-build-deps-<key>`, the dynamic user
 * `rustless-build-deps`) that runs no uploaded code: only crates rust-less wrote, their
 * registry dependencies and runner/. Its target directory starts from nothing that build
 * left: empty, or a copy of a published layer by the same rustc (seedLayerFor), and root
 * copies the result out of that user's reach before any app's build can see it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Toolchain } from '../../cargo/toolchain.js';
import { shellQuote as q } from './shell-quote.js';
import { run } from './systemctl.js';

/** Where published layers live, one directory per key. */
export const DEPS_ROOT = '/var/cache/rustless/deps';
/** The layer build's own `CacheDirectory=` (relative to /var/cache): its work, not shared. */
export const DEPS_WORK = 'rustless/deps-build';
/** The dynamic user layers are built as; no app's build runs as it. */
export const DEPS_USER = 'rustless-build-deps';
/** Marks a complete layer: written last, before the rename that publishes it. */
const READY = 'ready';

export interface LayerInputs {
  toolchain: Pick<Toolchain, 'cargo' | 'rustc' | 'cargoVersion' | 'rustcVersion'>;
  target: string;
  cargoConfig: readonly string[];
  rustflags: string;
  /** DepsCrates.fingerprint: the generated crates and runner/'s. */
  cratesFingerprint: string;
}

/** The key of the layer for these inputs (24 hex characters). */
export async function depsLayerKey(inputs: LayerInputs): Promise<string> {
  const hash = createHash('sha256');
  const { toolchain } = inputs;
  hash.update(JSON.stringify([toolchain.cargo, toolchain.rustc, toolchain.cargoVersion, toolchain.rustcVersion, inputs.target, inputs.cargoConfig, inputs.rustflags, inputs.cratesFingerprint]));
  // A directory registry (Debian's) changes when a librust-*-dev package is installed or upgraded.
  for (const value of inputs.cargoConfig) {
    const directory = /^source\.[^.]+\.directory=(.*)$/.exec(value)?.[1];
    if (directory) hash.update(JSON.stringify((await readdir(JSON.parse(directory) as string).catch(() => [] as string[])).sort()));
  }
  return hash.digest('hex').slice(0, 24);
}

export function depsLayerDir(key: string): string {
  return join(DEPS_ROOT, key);
}

export function layerReady(key: string): boolean {
  return existsSync(join(depsLayerDir(key), READY));
}

/**
 * The published layer a new layer's build starts from, or undefined: the newest complete one
 * whose target directory holds builds for `target` by this very rustc. A new rust-less (other
 * runner/ files, or runner/ elsewhere, as after `npm install -g`) or a new librust-*-dev package
 * makes a new key but changes few crates, and cargo then compiles only those: minutes on a Pi,
 * not the hour of a build from nothing. A layer of another rustc is not used: cargo would
 * compile everything again anyway, and its artifacts would stay in the new layer for nothing.
 */
export async function seedLayerFor(toolchain: Pick<Toolchain, 'rustcVersion'>, target: string, root = DEPS_ROOT): Promise<string | undefined> {
  const names = await readdir(root).catch(() => [] as string[]);
  const candidates: { dir: string; time: number }[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const ready = await stat(join(dir, READY)).catch(() => undefined);
    if (!ready || !existsSync(join(dir, 'target', target)) || !(await builtBy(join(dir, 'target'), toolchain.rustcVersion))) continue;
    candidates.push({ dir, time: ready.mtimeMs });
  }
  return candidates.sort((a, b) => b.time - a.time)[0]?.dir;
}

/** Whether cargo's record of the rustc it ran in `targetDir` (`.rustc_info.json`) is `rustc -vV` starting `version`. */
async function builtBy(targetDir: string, version: string): Promise<boolean> {
  try {
    const info = JSON.parse(await readFile(join(targetDir, '.rustc_info.json'), 'utf8')) as { outputs?: Record<string, { stdout?: string }> };
    return Object.values(info.outputs ?? {}).some((output) => output.stdout?.startsWith(`${version}\n`));
  } catch {
    return false;
  }
}

/** The layer build's work directory as root sees it (systemd keeps a dynamic user's under private/). */
export function depsWorkPrivateDir(): string {
  return join('/var/cache/private', DEPS_WORK);
}

/**
 * Publishes the target directory a layer build left in its work directory as layer `key`: a
 * root-owned copy no build can write, renamed into place once complete; older layers go. Runs
 * in a transient root unit: the gateway has no capability to read or chown the build's files.
 */
export async function publishLayer(key: string): Promise<void> {
  const final = depsLayerDir(key);
  const partial = `${final}.partial`;
  const script = [
    'set -eu',
    `rm -rf ${q(partial)}`,
    `mkdir -p ${q(partial)}`,
    // Timestamps kept: cargo compares them with the sources' to tell a fresh crate.
    `cp -R --preserve=mode,timestamps ${q(join(depsWorkPrivateDir(), 'target'))} ${q(join(partial, 'target'))}`,
    `chown -R 0:0 ${q(partial)}`,
    `chmod -R u+rwX,go+rX,go-w ${q(partial)}`,
    `echo ${q(key)} > ${q(join(partial, READY))}`,
    `rm -rf ${q(final)}`,
    `mv ${q(partial)} ${q(final)}`,
    `chmod 0755 ${q(DEPS_ROOT)}`,
    `for old in ${q(DEPS_ROOT)}/*; do [ "$old" = ${q(final)} ] || rm -rf --one-file-system "$old"; done`,
  ].join('\n');
  await run('systemd-run', ['--pipe', '--wait', '--collect', '--quiet', `--description=rust-less: publish the shared dependencies ${key}`, '--', '/bin/sh', '-c', script]);
}

/** Shell lines for an app's build: copy layer `key` into the app's cache unless its target came from it. */
export function seedScript(cacheDir: string, key: string, layer = depsLayerDir(key)): string[] {
  const stamp = join(cacheDir, 'deps-layer');
  const target = join(cacheDir, 'target');
  // A target directory seeded from another layer (an older toolchain) starts again from this one.
  return [
    `if [ -f ${q(join(layer, READY))} ] && [ "$(cat ${q(stamp)} 2>/dev/null || true)" != ${q(key)} ]; then`,
    `  rm -rf ${q(target)}`,
    `  cp -R --preserve=mode,timestamps ${q(join(layer, 'target'))} ${q(target)}`,
    `  echo ${q(key)} > ${q(stamp)}`,
    `  echo ${q(`rustless: this app's target directory starts as a copy of the shared dependencies ${key}`)} >&2`,
    'fi',
  ];
}
