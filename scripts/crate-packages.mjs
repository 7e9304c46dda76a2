#!/usr/bin/env zx
// Writes scripts/packages/crates.txt: the librust-*-dev packages that hold the crates runner/'s
// manifests name (src/builder/runner-crates.ts decides). .ci/run, setup-system.mjs and the
// test host read that file; test/unit/builder/runner-crates.test.ts fails when it is stale.
// Run after changing a dependency in runner/: `npx zx scripts/crate-packages.mjs` (needs dist/).
const root = path.resolve(__dirname, '..');
const { runnerCrates } = await import(path.join(root, 'dist', 'builder', 'runner-crates.js'));
const { renderCratePackages } = await import(path.join(root, 'dist', 'builder', 'crate-packages-file.js'));
const file = path.join(root, 'scripts', 'packages', 'crates.txt');
await fs.writeFile(file, renderCratePackages(await runnerCrates(path.join(root, 'runner'))));
echo(`wrote ${path.relative(root, file)}`);
