/**
 * The crates rust-less builds to prebuild every app's dependencies: runner crates like an app's,
 * made by rust-less alone (no uploaded code), whose app is an empty library. Cargo keys each
 * compiled crate by its features, so one crate per common feature set: the runner's crates as
 * they are, and with `serde/derive` (most apps derive their bodies' types, and that feature
 * changes serde, serde_json and the runner's crates as cargo compiles them).
 */
import { createHash, type Hash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import type { DepsCrates } from '../backends/backend.js';
import { crateFiles } from '../cargo/crate-files.js';
import { runnerCargoToml } from './runner-crate.js';
import { makeDirectory } from '../storage/make-directory.js';

interface DepsVariant {
  name: string;
  /** The empty app's dependencies besides `rustless`. */
  dependencies: Record<string, unknown>;
}

/** Bump when the crates below change: the shared dependencies' key includes it. */
export const DEPS_RECIPE = 1;

export const DEPS_VARIANTS: readonly DepsVariant[] = [
  { name: 'plain', dependencies: {} },
  { name: 'serde-derive', dependencies: { serde: { version: '1', features: ['derive'] }, serde_json: '1' } },
];

/** Writes the crates under `dir` (emptied first) and fingerprints them with runner/'s crates. */
export async function prepareDepsCrates(dir: string, runnerDir: string): Promise<DepsCrates> {
  const names = await writeDepsCrates(dir, runnerDir);
  const hash = createHash('sha256').update(`recipe ${DEPS_RECIPE}\n`);
  for (const crate of ['rustless', 'rustless-runner']) await hashTree(hash, join(resolve(runnerDir), crate));
  return { dir, names, fingerprint: hash.digest('hex') };
}

/** Writes one crate per variant under `dir` (emptied first); returns their directory names. */
export async function writeDepsCrates(dir: string, runnerDir: string): Promise<string[]> {
  const runner = resolve(runnerDir);
  await rm(dir, { recursive: true, force: true });
  for (const variant of DEPS_VARIANTS) {
    const crate = join(dir, variant.name);
    const userCrate = `rustless_deps_${variant.name.replaceAll('-', '_')}`;
    await makeDirectory(join(crate, 'src'));
    await makeDirectory(join(crate, 'app', 'src'));
    await writeFile(join(crate, 'Cargo.toml'), runnerCargoToml({ binaryName: `rustless-deps-${variant.name}`, app: `shared dependencies (${variant.name})`, userCrate, runnerDir: runner }));
    await writeFile(join(crate, 'src', 'main.rs'), 'fn main() {\n    rustless_runner::Runner::new().run();\n}\n');
    const app = {
      package: { name: userCrate, version: '0.0.0', edition: '2021', publish: false },
      dependencies: { rustless: { path: join(runner, 'rustless') }, ...variant.dependencies },
    };
    await writeFile(join(crate, 'app', 'Cargo.toml'), `${stringifyToml(app)}\n`);
    await writeFile(join(crate, 'app', 'src', 'lib.rs'), '//! Empty: only its dependencies are wanted.\n');
  }
  return DEPS_VARIANTS.map((variant) => variant.name);
}

/** Adds every file below `dir` (but target/): its path, modification time (cargo compares them) and contents. */
async function hashTree(hash: Hash, dir: string): Promise<void> {
  for await (const path of crateFiles(dir)) {
    const info = await stat(path);
    hash.update(`${path} ${info.mtimeMs} ${info.size}\n`).update(await readFile(path));
  }
}
