#!/usr/bin/env zx
// Runs every test: the TypeScript type-check and build, the tap suites (unit, local backend,
// end-to-end in the test host, TUI in a pty) and `cargo test` for runner/. Ends with one line
// `N passed, N failed` that CI reads. `--only unit,local` picks suites.

import { spawn } from 'node:child_process';

$.verbose = false;
const only = argv.only ? String(argv.only).split(',') : undefined;
const wanted = (suite) => !only || only.includes(suite);
const root = path.resolve(__dirname, '..');
cd(root);

const suites = [
  { name: 'typecheck', run: typecheck },
  { name: 'runner', run: cargoTest },
  { name: 'unit', run: () => tap('unit', ['test/unit'], 2) },
  { name: 'local', run: () => tap('local', ['test/local'], 1) },
  { name: 'tui', run: () => tap('tui', ['test/tui'], 1) },
  { name: 'e2e', run: () => tap('e2e', ['test/e2e'], 1) },
];

let passed = 0;
let failed = 0;
const failures = [];
for (const suite of suites.filter((s) => wanted(s.name))) {
  const started = Date.now();
  echo(chalk.bold(`\n== ${suite.name}`));
  const result = await suite.run();
  passed += result.passed;
  failed += result.failed;
  if (result.failed > 0 || result.passed === 0) failures.push(`${suite.name} (${result.failed} failed, ${result.passed} passed)`);
  echo(`== ${suite.name}: ${result.passed} passed, ${result.failed} failed in ${Math.round((Date.now() - started) / 1000)} s`);
}
if (failures.length) echo(chalk.red(`\nfailing suites: ${failures.join(', ')}`));
// A suite that ran nothing is a failure too: a test that silently skipped is a defect.
const empty = failures.filter((f) => f.includes('(0 failed, 0 passed)')).length;
echo(`${passed} passed, ${failed + empty} failed`);
process.exit(failed + empty > 0 ? 1 : 0);

/** Runs a command, showing its output as it comes and keeping it (stdout and stderr together). */
function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        process.stdout.write(chunk);
        stdout += chunk;
      });
    }
    child.on('close', (exitCode) => resolve({ exitCode, stdout }));
  });
}

/** Builds dist/ (the tests run the built CLI) and type-checks the tests against src/ too. */
async function typecheck() {
  let passed = 0;
  let failed = 0;
  for (const project of ['tsconfig.json', 'tsconfig.test.json']) {
    const result = await $({ nothrow: true })`npx tsc -p ${project}`;
    process.stdout.write(result.stdout + result.stderr);
    if (result.exitCode === 0) passed++;
    else failed++;
  }
  return { passed, failed };
}

async function cargoTest() {
  // The same crate-source decision the builder makes; typecheck built dist/ first.
  const { detectCrateSource } = await import('../dist/builder/crate-source.js');
  const { configFlags } = await import('../dist/builder/cargo.js');
  const source = await detectCrateSource();
  echo(`crates: ${source.reason}`);
  const flags = configFlags(source.cargoConfig);
  const result = await run('cargo', ['test', ...flags], { cwd: 'runner' });
  let passed = 0;
  let failed = 0;
  for (const match of result.stdout.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(match[1]);
    failed += Number(match[2]);
  }
  if (result.exitCode !== 0 && failed === 0) failed = 1;
  return { passed, failed };
}

async function tap(name, dirs, jobs) {
  const files = (await glob(dirs.map((dir) => `${dir}/**/*.test.{ts,mjs}`))).sort();
  if (files.length === 0) return { passed: 0, failed: 0 };
  const result = await run('npx', ['tap', '--disable-coverage', '--reporter=tap', '--timeout=1500', `--jobs=${jobs}`, ...files], { env: { ...process.env, FORCE_COLOR: '0' } });
  // Count the tests (t.test blocks) one level below each file, not single assertions.
  let passed = 0;
  let failed = 0;
  for (const line of result.stdout.split('\n')) {
    if (/^    ok \d+/.test(line)) passed++;
    else if (/^    not ok \d+/.test(line) && !/# TODO/.test(line)) failed++;
  }
  if (result.exitCode !== 0 && failed === 0) failed = 1;
  return { passed, failed };
}
