// What a failed build says first: real cargo, offline against Debian's crate registry, on crates
// that need what the host has not got; and the wording of each piece of advice.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { BuildOutput } from '../../../src/backends/backend.js';
import { explainBuildFailure, newerRustNeeded } from '../../../src/cargo/build-failure.js';
import { DEBIAN_REGISTRY, debianCargoConfig } from '../../../src/cargo/crate-source.js';
import { configFlags, runCargo } from '../../../src/cargo/run-cargo.js';
import { resolveToolchain, type Toolchain } from '../../../src/cargo/toolchain.js';

const quiet: BuildOutput = { line: () => {}, progress: () => {} };

async function crate(t: Tap, cargoToml: string, lib = ''): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-failure-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'Cargo.toml'), `[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n${cargoToml}`);
  await writeFile(join(dir, 'src', 'lib.rs'), lib);
  return dir;
}
type Tap = { teardown(fn: () => unknown): void };

/** Builds `dir` with the host's toolchain, offline from Debian's registry; the error it fails with. */
async function failure(dir: string, toolchain: Toolchain): Promise<string> {
  try {
    await runCargo(['build', '--release', ...configFlags(debianCargoConfig())], {
      cwd: dir,
      env: { CARGO_TARGET_DIR: join(dir, 'target'), RUSTC: toolchain.rustc },
      output: quiet,
      command: [toolchain.cargo],
      failure: { crateSource: 'debian', registry: DEBIAN_REGISTRY, toolchain },
    });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the build succeeded');
}

// chrono: a common crate that scripts/packages/ never installs (librust-chrono-dev).
t.test('a crate the registry has not got: named, with the apt line, or crates.io', async (t) => {
  const toolchain = await resolveToolchain();
  const started = Date.now();
  const message = await failure(await crate(t, '[dependencies]\nchrono = "0.4"\n'), toolchain);
  t.ok(Date.now() - started < 30_000, 'fails at once, before compiling anything');
  const [advice] = message.split('\n\n');
  t.equal(
    advice,
    "rustless: the crate `chrono` is not in this host's crate registry (/usr/share/cargo/registry, offline). Install it on the gateway's machine: apt install librust-chrono-dev\n" +
      "  or allow crates.io: start the gateway with RUSTLESS_CRATES=crates-io and set `network = true` under [container] in the app's rustless.toml.",
  );
  t.match(message, /no matching package named `chrono` found/, "cargo's own words follow");
});

t.test('a rust-version above the toolchain: says which rustc ran and how to give builds a newer one', async (t) => {
  const toolchain = await resolveToolchain();
  const message = await failure(await crate(t, 'rust-version = "1.999"\n'), toolchain);
  t.match(message, new RegExp(`^rustless: the crate needs a newer Rust \\(rustc 1\\.999 or newer\\) than this build's ${escape(toolchain.rustcVersion)} \\(${escape(toolchain.cargo)}\\)\\. Give builds a newer toolchain`));
  t.match(message, /RUSTLESS_CARGO=\/opt\/rust\/toolchains\/<toolchain>\/bin\/cargo \(or --cargo\)/);
});

t.test('an unstable feature (E0658) gets the same advice', async (t) => {
  const toolchain = await resolveToolchain();
  const message = await failure(await crate(t, '', 'pub fn f() { std::intrinsics::abort() }\n'), toolchain);
  t.match(message, /^rustless: the crate needs a newer Rust than this build's rustc /);
  t.match(message, /error\[E0658\]/, "the compiler's error follows");
});

t.test('advice wording for each cause', async (t) => {
  const toolchain = { cargo: '/usr/bin/cargo', rustcVersion: 'rustc 1.63.0', release: '1.63.0' };
  t.same(explainBuildFailure('error: no matching package named `serde_yaml` found', { crateSource: 'crates-io' }), ['rustless: the crate `serde_yaml` was not found on crates.io: check its name in Cargo.toml.']);
  t.match(explainBuildFailure('error: no matching package named `serde_yaml` found', { crateSource: 'debian' })[0], /apt install librust-serde-yaml-dev/, 'underscores become dashes in the package');
  t.same(explainBuildFailure('error: failed to select a version for the requirement `serde = "^2"`\ncandidate versions found which didn\'t match: 1.0.152', { crateSource: 'debian', registry: DEBIAN_REGISTRY }), [
    'rustless: this host\'s crate registry (/usr/share/cargo/registry, offline) has no `serde` matching "^2". Relax the requirement in Cargo.toml, install a newer librust-serde-dev, or allow crates.io (RUSTLESS_CRATES=crates-io on the gateway and `network = true` under [container]).',
  ]);
  t.ok(newerRustNeeded('error: `BTreeMap::<K, V>::new` is not yet stable as a const fn'), 'the issue\'s const fn error');
  t.ok(newerRustNeeded('  feature `edition2024` is required'));
  t.notOk(newerRustNeeded('error[E0308]: mismatched types'));
  t.match(explainBuildFailure('error: `BTreeMap::<K, V>::new` is not yet stable as a const fn', { toolchain })[0], /than this build's rustc 1\.63\.0 \(\/usr\/bin\/cargo\)/);
  t.same(explainBuildFailure('error[E0308]: mismatched types', { toolchain }), [], 'no advice for an ordinary error');
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
