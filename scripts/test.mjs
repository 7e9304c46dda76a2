#!/usr/bin/env zx
// Runs every test: the TypeScript type-check and build, the tap suites (unit, local backend,
// end-to-end in the test host, TUI in a pty, the Pi in an emulated arm64 VM) and `cargo test`
// for runner/. Ends with one line `N passed, N failed` that CI reads. `--only unit,local` picks suites.
// First it checks the Debian packages the tests need (the lists .ci/run installs): as root it
// installs the missing ones, otherwise it stops at once with the one command to run. Every
// suite has a time limit; a suite past it is killed and counted as failed.

import { spawn } from 'node:child_process';
import { ensureBinding } from './lib/sd-notify-binding.mjs';

$.verbose = false;
const only = argv.only ? String(argv.only).split(',') : undefined;
const wanted = (suite) => !only || only.includes(suite);
const root = path.resolve(__dirname, '..');
cd(root);
await prerequisites();
// The arm64 VM's root takes a quarter of an hour to debootstrap under qemu-user, and the guest's
// native modules minutes more to cross-compile: both are built (or found cached) while the
// type-check runs, before the VM suite starts.
const vmRoot = wanted('vm') ? prepareVmRoot() : undefined;

// The last argument of tap() is the suite's limit in seconds, well above what it takes here.
const suites = [
  { name: 'typecheck', run: typecheck },
  // The Pi, in an emulated arm64 VM: slow by nature, so it runs beside the suites below.
  // The default run takes the Pi suite; `--only vm` every VM file (the power cuts take hours).
  // power-cut.test.ts alone takes 2-3 h here (builds inside the emulated Pi; docs/power-loss.md).
  { name: 'vm', besides: true, run: async ({ quiet } = {}) => ((await vmRoot) ? tap('vm', only ? ['test/vm'] : ['test/vm/pi.test.ts'], 1, only ? 4800 + 14400 : 4800, { quiet }) : { passed: 0, failed: 1 }) },
  { name: 'runner', run: cargoTest },
  { name: 'unit', run: () => tap('unit', ['test/unit'], 2, 900) },
  { name: 'local', run: () => tap('local', ['test/local'], 1, 2400) },
  { name: 'tui', run: () => tap('tui', ['test/tui'], 1, 900) },
  { name: 'e2e', run: () => tap('e2e', ['test/e2e'], 1, 3600) },
];

let passed = 0;
let failed = 0;
const failures = [];
function count(name, result, started) {
  passed += result.passed;
  failed += result.failed;
  if (result.failed > 0 || result.passed === 0) failures.push(`${name} (${result.failed} failed, ${result.passed} passed)`);
  echo(`== ${name}: ${result.passed} passed, ${result.failed} failed in ${Math.round((Date.now() - started) / 1000)} s`);
}
// The VM suite runs beside the others (its output kept, shown when it ends): it waits on an
// emulated CPU most of its time, and one after the other they would not fit CI's hour.
const chosen = suites.filter((s) => wanted(s.name));
let besides;
for (const suite of chosen) {
  const started = Date.now();
  if (suite.besides && chosen.length > 1) {
    echo(chalk.bold(`\n== ${suite.name}: started beside the other suites; its output comes when it ends`));
    besides = suite.run({ quiet: true }).then((result) => ({ suite, result, started }));
    continue;
  }
  echo(chalk.bold(`\n== ${suite.name}`));
  count(suite.name, await suite.run(), started);
}
if (besides) {
  const { suite, result, started } = await besides;
  echo(chalk.bold(`\n== ${suite.name} (ran beside the others)`));
  process.stdout.write(result.output ?? '');
  count(suite.name, result, started);
}
if (failures.length) echo(chalk.red(`\nfailing suites: ${failures.join(', ')}`));
// A suite that ran nothing is a failure too: a test that silently skipped is a defect.
const empty = failures.filter((f) => f.includes('(0 failed, 0 passed)')).length;
echo(`${passed} passed, ${failed + empty} failed`);
process.exit(failed + empty > 0 ? 1 : 0);

/**
 * The Debian packages of scripts/packages/{local,crates,test}.txt (as root, installs what is
 * missing; otherwise exits at once with the command that does), then the sd-notify binding,
 * which `npm ci` drops whole when libsystemd-dev came later.
 */
async function prerequisites() {
  const lists = ['local', 'crates', 'test'].map((name) => path.join(root, 'scripts', 'packages', `${name}.txt`));
  const wanted = lists.flatMap((file) => fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  const status = await $({ nothrow: true })`dpkg-query -W -f=${'${Package} ${db:Status-Abbrev}\n'} ${wanted}`;
  const installed = new Set(status.stdout.split('\n').filter((line) => /\sii\s*$/.test(line)).map((line) => line.split(' ')[0]));
  const missing = wanted.filter((name) => !installed.has(name));
  if (missing.length > 0) {
    if (process.getuid() !== 0) {
      echo(chalk.red(`npm test: missing Debian packages: ${missing.join(' ')}`));
      echo(`run this once, then npm test again:\n  sudo npx zx scripts/setup-system.mjs --for test`);
      process.exit(1);
    }
    echo(`npm test: installing missing Debian packages: ${missing.join(' ')}`);
    await $({ stdio: 'inherit' })`zx ${path.join(root, 'scripts', 'setup-system.mjs')} --for test`;
  }
  const binding = await ensureBinding(root, { log: (line) => echo(`npm test: ${line}`) });
  if (binding.ok) echo(`npm test: ${binding.detail}`);
  // The notify e2e checks then fail, and say why; every other suite can still run.
  else echo(chalk.red(`npm test: the sd-notify binding is NOT there: ${binding.detail}`));
}

/** `testhost.mjs create --vm` in the background, its output in a log; resolves whether it worked. */
async function prepareVmRoot() {
  const logFile = path.join(os.tmpdir(), `rustless-vm-root-${process.pid}.log`);
  const result = await run('sh', ['-c', `zx scripts/testhost.mjs create --vm --arch arm64 --node-modules-from . > ${logFile} 2>&1`], { limitS: 2400, quiet: true });
  const text = fs.readFileSync(logFile, 'utf8');
  if (result.exitCode !== 0) {
    echo(chalk.red(`npm test: the arm64 VM root could not be built (exit ${result.exitCode}); the vm suite fails:\n${text.split('\n').slice(-30).join('\n')}`));
    return false;
  }
  echo(`npm test: ${text.trim().split('\n').pop()}`);
  return true;
}

/**
 * Runs a command, showing its output as it comes and keeping it (stdout and stderr together).
 * Past `limitS` seconds it kills the command's whole process group and says so.
 */
function run(command, args, { limitS, quiet = false, ...options } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      const line = `\nnpm test: ${command} ${args.slice(0, 3).join(' ')} ... ran past its limit of ${limitS} s: killed\n`;
      process.stdout.write(chalk.red(line));
      stdout += line;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, (limitS ?? 600) * 1000);
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        if (!quiet) process.stdout.write(chunk);
        stdout += chunk;
      });
    }
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ exitCode: timedOut ? 124 : exitCode, stdout, timedOut });
    });
  });
}

/** Builds dist/ (the tests run the built CLI, and its TUI bundle) and type-checks the tests against src/ too. */
async function typecheck() {
  let passed = 0;
  let failed = 0;
  for (const build of [['node', 'scripts/build.mjs'], ['npx', 'tsc', '-p', 'tsconfig.test.json']]) {
    const result = await $({ nothrow: true })`${build}`;
    process.stdout.write(result.stdout + result.stderr);
    if (result.exitCode === 0) passed++;
    else failed++;
  }
  return { passed, failed };
}

async function cargoTest() {
  // The same crate-source decision the builder makes; typecheck built dist/ first.
  const { detectCrateSource } = await import('../dist/cargo/crate-source.js');
  const { configFlags } = await import('../dist/cargo/run-cargo.js');
  const source = await detectCrateSource();
  echo(`crates: ${source.reason}`);
  const flags = configFlags(source.cargoConfig);
  if (source.kind === 'none') {
    echo(chalk.red(`runner: ${source.reason}; \`node dist/cli/main.js doctor\` says how to fix it`));
    return { passed: 0, failed: 1 };
  }
  const result = await run('cargo', ['test', ...flags], { cwd: 'runner', limitS: 900 });
  let passed = 0;
  let failed = 0;
  for (const match of result.stdout.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(match[1]);
    failed += Number(match[2]);
  }
  if ((result.exitCode !== 0 || result.timedOut) && failed === 0) failed = 1;
  return { passed, failed, output: quiet ? result.stdout : undefined };
}

async function tap(name, dirs, jobs, limitS, { quiet = false } = {}) {
  const files = (await glob(dirs.map((dir) => (dir.endsWith('.ts') ? dir : `${dir}/**/*.test.{ts,mjs}`)))).sort();
  if (files.length === 0) return { passed: 0, failed: 0 };
  const result = await run('npx', ['tap', '--disable-coverage', '--reporter=tap', `--timeout=${Math.max(1500, limitS)}`, `--jobs=${jobs}`, ...files], { env: { ...process.env, FORCE_COLOR: '0' }, limitS, quiet });
  // Count the tests (t.test blocks) one level below each file, not single assertions.
  let passed = 0;
  let failed = 0;
  for (const line of result.stdout.split('\n')) {
    if (/^    ok \d+/.test(line)) passed++;
    else if (/^    not ok \d+/.test(line) && !/# TODO/.test(line)) failed++;
  }
  if ((result.exitCode !== 0 || result.timedOut) && failed === 0) failed = 1;
  return { passed, failed, output: quiet ? result.stdout : undefined };
}
