import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { DEPS_CRATE, prepareDepsCrates } from '../../../src/builder/deps-crates.js';
import { debianCargoConfig } from '../../../src/cargo/crate-source.js';
import { configFlags } from '../../../src/cargo/run-cargo.js';
import { resolveToolchain } from '../../../src/cargo/toolchain.js';

const RUNNER = resolve(import.meta.dirname, '..', '..', '..', 'runner');

t.test('the shared dependencies come from a crate rust-less writes: a runner crate with an empty app', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'rustless-deps-crates-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const runner = join(root, 'runner');
  for (const crate of ['rustless', 'rustless-runner']) await cp(join(RUNNER, crate), join(runner, crate), { recursive: true, preserveTimestamps: true, filter: (path) => !path.includes('/target') });
  const crates = await prepareDepsCrates(join(root, 'deps'), runner);
  t.same(crates.names, [DEPS_CRATE], 'one crate: every runner crate has serde with derive, so one set of compiled dependencies fits every app');
  t.same(await readdir(crates.dir), [DEPS_CRATE]);
  t.equal(await readFile(join(crates.dir, DEPS_CRATE, 'app', 'src', 'lib.rs'), 'utf8'), '//! Empty: only its dependencies are wanted.\n', 'no app code at all');
  const cargoToml = await readFile(join(crates.dir, DEPS_CRATE, 'Cargo.toml'), 'utf8');
  t.match(cargoToml, /codegen-units = 4/, "the runner crate's profile: the same compiled units as an app's");
  t.match(cargoToml, /\[dependencies\.serde\]\nversion = "1"\nfeatures = \[ "derive" \]/, "serde as every app's runner crate has it");

  // Resolves offline against the host's registry with the crates runner/ needs (no compiling).
  const toolchain = await resolveToolchain();
  for (const name of crates.names) {
    const metadata = JSON.parse(execFileSync(toolchain.cargo, ['metadata', '--format-version', '1', ...configFlags(debianCargoConfig())], { cwd: join(crates.dir, name), encoding: 'utf8', env: { ...process.env, RUSTC: toolchain.rustc, CARGO_TARGET_DIR: join(root, 'target') } })) as { packages: Array<{ name: string }> };
    t.ok(metadata.packages.some((p) => p.name === 'serde_json'), `${name}: resolves offline, serde_json included`);
  }

  const again = await prepareDepsCrates(join(root, 'deps'), runner);
  t.equal(again.fingerprint, crates.fingerprint, 'the same runner crates: the same fingerprint');
  await utimes(join(runner, 'rustless', 'src', 'lib.rs'), new Date(), new Date());
  t.not((await prepareDepsCrates(join(root, 'deps'), runner)).fingerprint, crates.fingerprint, 'a runner file touched (a reinstall): a new fingerprint, since cargo compares times');
});
