import { readFile } from 'node:fs/promises';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { renderCratePackages } from '../../../src/builder/crate-packages-file.js';
import { runnerCrates } from '../../../src/builder/runner-crates.js';
import { debianPackageFor } from '../../../src/cargo/crate-names.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

t.test("scripts/packages/crates.txt is what runner/'s manifests name", async (t) => {
  const crates = await runnerCrates(join(ROOT, 'runner'));
  const file = await readFile(join(ROOT, 'scripts', 'packages', 'crates.txt'), 'utf8');
  t.equal(file, renderCratePackages(crates), 'stale: regenerate it with `npx zx scripts/crate-packages.mjs`');
  t.notOk(crates.some((c) => c.crate === 'tiny_http'), 'the runner no longer uses tiny_http');
  t.ok(crates.some((c) => c.crate === 'serde_derive'), "serde's derive feature is the serde_derive crate");
});

t.test('crates come from every dependency table, path dependencies left out', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-runner-crates-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'lib'), { recursive: true });
  await mkdir(join(dir, 'examples', 'demo'), { recursive: true });
  await writeFile(join(dir, 'lib', 'Cargo.toml'), '[package]\nname = "lib"\n[dependencies]\nfoo_bar = "1"\nlocal = { path = "../local" }\n[build-dependencies]\ncc = "1"\n');
  await writeFile(join(dir, 'examples', 'demo', 'Cargo.toml'), '[package]\nname = "demo"\n[dev-dependencies]\nrenamed = { package = "sd-notify", version = "0.4" }\nserde = { version = "1", features = ["derive"] }\n');
  t.same(
    (await runnerCrates(dir)).map((c) => c.debianPackage),
    ['librust-cc-dev', 'librust-foo-bar-dev', 'librust-sd-notify-dev', 'librust-serde-dev', 'librust-serde-derive-dev'],
  );
  t.equal(debianPackageFor('Serde_JSON'), 'librust-serde-json-dev');
});
