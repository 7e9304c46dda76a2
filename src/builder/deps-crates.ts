/**
 * The crate rust-less builds to prebuild every app's dependencies: a runner crate like an app's,
 * made by rust-less alone (no uploaded code), whose app is an empty library. Every runner crate
 * depends on serde with `derive` (runnerCargoToml), so this one crate's compiled dependencies
 * are every app's, whether the app derives its bodies' types or not: cargo keys each compiled
 * crate by its features, and the features are the same.
 */
import { createHash, type Hash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import type { DepsCrates } from '../backends/backend.js';
import { crateFiles } from '../cargo/crate-files.js';
import { runnerCargoToml } from './runner-crate.js';
import { makeDirectory } from '../storage/make-directory.js';

/**
 * Bump when the crate below changes: the shared dependencies' key includes it.
 * 2: one crate, serde with derive in every runner crate (1 had a second crate without it).
 */
export const DEPS_RECIPE = 2;

/** The generated crate's directory name under the crates dir. */
export const DEPS_CRATE = 'shared';

/** Writes the crate under `dir` (emptied first) and fingerprints it with runner/'s crates. */
export async function prepareDepsCrates(dir: string, runnerDir: string): Promise<DepsCrates> {
  const names = await writeDepsCrates(dir, runnerDir);
  const hash = createHash('sha256').update(`recipe ${DEPS_RECIPE}\n`);
  for (const crate of ['rustless', 'rustless-runner']) await hashTree(hash, join(resolve(runnerDir), crate));
  return { dir, names, fingerprint: hash.digest('hex') };
}

/** Writes the crate under `dir` (emptied first); returns its directory name, as a list. */
export async function writeDepsCrates(dir: string, runnerDir: string): Promise<string[]> {
  const runner = resolve(runnerDir);
  await rm(dir, { recursive: true, force: true });
  const crate = join(dir, DEPS_CRATE);
  const userCrate = `rustless_deps_${DEPS_CRATE}`;
  await makeDirectory(join(crate, 'src'));
  await makeDirectory(join(crate, 'app', 'src'));
  await writeFile(join(crate, 'Cargo.toml'), runnerCargoToml({ binaryName: `rustless-deps-${DEPS_CRATE}`, app: 'shared dependencies', userCrate, runnerDir: runner }));
  await writeFile(join(crate, 'src', 'main.rs'), 'fn main() {\n    rustless_runner::Runner::new().run();\n}\n');
  const app = {
    package: { name: userCrate, version: '0.0.0', edition: '2021', publish: false },
    dependencies: { rustless: { path: join(runner, 'rustless') } },
  };
  await writeFile(join(crate, 'app', 'Cargo.toml'), `${stringifyToml(app)}\n`);
  await writeFile(join(crate, 'app', 'src', 'lib.rs'), '//! Empty: only its dependencies are wanted.\n');
  return [DEPS_CRATE];
}

/** Adds every file below `dir` (but target/): its path, modification time (cargo compares them) and contents. */
async function hashTree(hash: Hash, dir: string): Promise<void> {
  for await (const path of crateFiles(dir)) {
    const info = await stat(path);
    hash.update(`${path} ${info.mtimeMs} ${info.size}\n`).update(await readFile(path));
  }
}
