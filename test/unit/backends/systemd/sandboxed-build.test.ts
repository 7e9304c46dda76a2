import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { seedLayerFor, seedScript } from '../../../../src/backends/systemd/deps-layer.js';
import { buildUserName, copyBuildOutput, depsBuildScript, parseJobsLine, parseMemoryLine, sandboxCommand } from '../../../../src/backends/systemd/sandboxed-build.js';
import { cargoJobs } from '../../../../src/cargo/jobs.js';

async function scratch(t: { teardown(fn: () => unknown): void }): Promise<{ cache: string; outside: string; dest: string }> {
  const root = await mkdtemp(join(tmpdir(), 'rustless-sandbox-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const cache = join(root, 'cache');
  await mkdir(join(cache, 'target', 'release'), { recursive: true });
  const outside = join(root, 'secret');
  await writeFile(outside, 'root:$y$...:19000:0:99999:7:::\n');
  return { cache, outside, dest: join(root, 'runner') };
}

t.test('copyBuildOutput copies a regular file of the build cache', async (t) => {
  const { cache, dest } = await scratch(t);
  await writeFile(join(cache, 'target', 'release', 'app'), 'ELF');
  await copyBuildOutput(cache, join(cache, 'target', 'release', 'app'), dest);
  t.equal(await readFile(dest, 'utf8'), 'ELF');
});

t.test('copyBuildOutput refuses a binary the build made a symlink to a file outside its cache', async (t) => {
  const { cache, outside, dest } = await scratch(t);
  await symlink(outside, join(cache, 'target', 'release', 'app'));
  await t.rejects(copyBuildOutput(cache, join(cache, 'target', 'release', 'app'), dest), { code: 'RUSTLESS_BUILD_FAILED', message: /leads to .*secret, not to a file of the build's own cache/ });
  await t.rejects(readFile(dest), { code: 'ENOENT' }, 'nothing was copied');
});

t.test('copyBuildOutput refuses a directory on the way that the build replaced by a symlink', async (t) => {
  const { cache, outside, dest } = await scratch(t);
  await rm(join(cache, 'target', 'release'), { recursive: true });
  await symlink(join(outside, '..'), join(cache, 'target', 'release'));
  await t.rejects(copyBuildOutput(cache, join(cache, 'target', 'release', 'secret'), dest), { code: 'RUSTLESS_BUILD_FAILED' });
});

t.test('copyBuildOutput says when the build left no binary', async (t) => {
  const { cache, dest } = await scratch(t);
  await t.rejects(copyBuildOutput(cache, join(cache, 'target', 'release', 'app'), dest), { code: 'RUSTLESS_BUILD_FAILED', message: /left no binary/ });
});

t.test('each app builds as a user of its own, with a name systemd accepts', async (t) => {
  t.equal(buildUserName('hello'), 'rustless-build-hello');
  const long = buildUserName('a-very-long-app-name-that-goes-on-and-on');
  t.ok(long.length <= 31, `${long} fits in 31 characters`);
  t.not(long, buildUserName('a-very-long-app-name-that-goes-on-and-on-2'), 'two long names give two users');
});

const LIMITS = { memoryMax: '2G', cpuQuota: '200%', runtimeMaxSec: 900, tasksMax: 256, maxOutputLines: 100 };

t.test('the sandbox binds a toolchain under /root into an empty, read-only home; the shared dependencies stay read-only', async (t) => {
  const spec = { unit: 'rustless-build-a-1', description: 'x', user: 'rustless-build-a', cacheDirectory: 'rustless/build/a', network: false };
  const plain = sandboxCommand({ ...spec, readOnlyPaths: ['/var/lib/rustless/builds/1'] }, '/var/lib/rustless', LIMITS, {});
  t.ok(plain.includes('--property=ProtectHome=yes'));
  t.ok(plain.includes('--property=ReadOnlyPaths=-/var/cache/rustless/deps'));
  const rustup = sandboxCommand({ ...spec, readOnlyPaths: ['/var/lib/rustless/builds/1', '/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu'] }, '/var/lib/rustless', LIMITS, {});
  t.ok(rustup.includes('--property=ProtectHome=tmpfs'), '/root becomes an empty read-only tmpfs');
  t.ok(rustup.includes('--property=BindReadOnlyPaths=/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu'), 'with only the toolchain in it, read-only');
});

/** Runs a build unit's script (`/bin/sh -c SCRIPT ...`) here, with `cargo` standing for cargo. */
function runScript(command: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

t.test("a build's script: jobs by the same rule as cargoJobs, memory reported, the subshell stops at its first failure", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'rustless-script-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const name of ['a', 'b']) await mkdir(join(root, 'crates', name), { recursive: true });
  await mkdir(join(root, 'work'));
  const run = runScript(depsBuildScript(join(root, 'crates'), ['a', 'b'], join(root, 'work'), ['sh', '-c', 'echo "cargo in $(basename "$PWD") with $CARGO_BUILD_JOBS jobs" >&2; exit 3']));
  t.equal(run.status, 3, "the build's status");
  t.match(run.stderr, /cargo in a with \d+ jobs/);
  t.notMatch(run.stderr, /cargo in b/, 'the second crate is not built after the first failed');
  const jobsLine = run.stderr.split('\n').find((line) => line.startsWith('rustless-build-jobs:'))!;
  const field = (name: string): number | undefined => {
    const value = /=(\S+)/.exec(jobsLine.slice(jobsLine.indexOf(` ${name}=`)))?.[1];
    return value === undefined || value === 'max' ? undefined : Number(value);
  };
  t.equal(field('jobs'), cargoJobs({ memAvailable: field('mem_available'), memoryMax: field('limit'), cpus: field('cpus')! }).jobs, 'sh and cargoJobs agree');
  t.match(parseJobsLine(jobsLine), /^cargo -j \d+ \(\d+ CPUs?, MemAvailable [0-9.]+ [MG]iB, the build's limit /);
  const memory = parseMemoryLine(run.stderr.split('\n').find((line) => line.startsWith('rustless-build-memory:'))!);
  t.ok(memory, 'a memory line');
  t.equal(parseMemoryLine('   Compiling serde v1.0.152'), undefined);
  t.same(parseMemoryLine('rustless-build-memory: peak=1048576 oom_kill=2'), { peakBytes: 1048576, oomKills: 2 });
  t.same(parseMemoryLine('rustless-build-memory: peak=unknown oom_kill=unknown'), { peakBytes: undefined, oomKills: undefined });
});

t.test("an app's target directory is seeded from the shared dependencies once per layer", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'rustless-seed-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const layer = (key: string): string => join(root, 'deps', key);
  for (const key of ['k1', 'k2']) {
    await mkdir(join(layer(key), 'target', 'release'), { recursive: true });
    await writeFile(join(layer(key), 'target', 'release', 'libserde.rlib'), key);
    await writeFile(join(layer(key), 'ready'), key);
  }
  const cache = join(root, 'cache');
  await mkdir(cache);
  const seed = (key: string): string => runScript(['/bin/sh', '-c', ['set -eu', ...seedScript(cache, key, layer(key))].join('\n')]).stderr;
  t.match(seed('k1'), /starts as a copy of the shared dependencies k1/);
  t.equal(await readFile(join(cache, 'target', 'release', 'libserde.rlib'), 'utf8'), 'k1');
  await writeFile(join(cache, 'target', 'release', 'app.rlib'), 'the app');
  t.equal(seed('k1'), '', 'the same layer again: the target directory is kept');
  t.equal(await readFile(join(cache, 'target', 'release', 'app.rlib'), 'utf8'), 'the app');
  t.match(seed('k2'), /shared dependencies k2/, 'a new layer (a new toolchain, say): seeded again');
  t.equal(await readFile(join(cache, 'target', 'release', 'libserde.rlib'), 'utf8'), 'k2');
  t.notOk(existsSync(join(cache, 'target', 'release', 'app.rlib')), 'nothing of the old one is left');
  await rm(join(layer('k3')), { recursive: true, force: true });
  t.equal(seed('k3'), '', 'no such layer (it failed to build): the build goes on without one');
});

t.test("a new layer's build starts from the newest published layer of the same rustc and target, or from nothing", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'rustless-deps-seed-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const rustc = 'rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)';
  const target = 'aarch64-unknown-linux-gnu';
  const layer = async (key: string, { version = rustc, triple = target, ready = true, age = 0 } = {}): Promise<string> => {
    const dir = join(root, 'deps', key);
    await mkdir(join(dir, 'target', triple, 'release'), { recursive: true });
    await writeFile(join(dir, 'target', triple, 'release', 'libserde.rlib'), key);
    const info = { rustc_fingerprint: 1, outputs: { '1': { success: true, stdout: '___\nlib___.rlib\n' }, '2': { success: true, stdout: `${version}\nbinary: rustc\nhost: ${triple}\n` } } };
    await writeFile(join(dir, 'target', '.rustc_info.json'), JSON.stringify(info));
    if (ready) {
      await writeFile(join(dir, 'ready'), key);
      const when = new Date(Date.now() - age * 1000);
      await utimes(join(dir, 'ready'), when, when);
    }
    return dir;
  };
  const deps = join(root, 'deps');
  t.equal(await seedLayerFor({ rustcVersion: rustc }, target, deps), undefined, 'no layers yet: from nothing');
  const older = await layer('older', { age: 600 });
  const newer = await layer('newer', { age: 60 });
  await layer('partial', { ready: false });
  await layer('other-rustc', { version: 'rustc 1.84.1 (e71f9a9a9 2025-01-27)' });
  await layer('other-target', { triple: 'x86_64-unknown-linux-gnu' });
  t.equal(await seedLayerFor({ rustcVersion: rustc }, target, deps), newer, 'the newest complete layer by this rustc for this target');
  await rm(join(newer, 'target', '.rustc_info.json'));
  t.equal(await seedLayerFor({ rustcVersion: rustc }, target, deps), older, "a layer without cargo's record of its rustc is not used");
  t.equal(await seedLayerFor({ rustcVersion: 'rustc 1.86.0 (05f9846f8 2025-03-31)' }, target, deps), undefined, 'a new rustc: from nothing');

  const work = join(root, 'work');
  await mkdir(join(work, 'target'), { recursive: true });
  await writeFile(join(work, 'target', 'planted'), 'left by an earlier build');
  await mkdir(join(root, 'crates', 'a'), { recursive: true });
  const run = runScript(depsBuildScript(join(root, 'crates'), ['a'], work, ['sh', '-c', `echo "cargo found $(cat ../../target/${target}/release/libserde.rlib)" >&2`], older));
  t.equal(run.status, 0);
  t.match(run.stderr, /starting from the shared dependencies in .*older \(same rustc\)/);
  t.match(run.stderr, /cargo found older/, "cargo finds the seed's artifacts in its target directory");
  t.notOk(existsSync(join(work, 'target', 'planted')), 'nothing an earlier build left in the work directory stays');
});
