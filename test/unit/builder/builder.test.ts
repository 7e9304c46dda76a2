import { existsSync } from 'node:fs';
import { copyFile, cp, mkdtemp, readdir, rm, writeFile, appendFile, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t from 'tap';
import type { BuildArtifact, BuildJob, BuildOutput } from '../../../src/backends/backend.js';
import { Builder } from '../../../src/builder/builder.js';
import { configFlags, runCargo } from '../../../src/cargo/run-cargo.js';
import { resolveToolchain } from '../../../src/cargo/toolchain.js';
import type { BuildEvent } from '../../../src/builder/events.js';
import { packCrate } from '../../../src/builder/pack.js';
import { RustlessError } from '../../../src/errors.js';
import type { AppManifest } from '../../../src/manifest/manifest.js';
import { Registry, type BuildRecord } from '../../../src/registry/registry.js';
import { CRATE_FILES, tgzOf } from './fixtures/tar.js';

const RUNNER_DIR = fileURLToPath(new URL('../../../runner', import.meta.url));
const HELLO = join(RUNNER_DIR, 'examples', 'hello');
/** Shared by every run of these tests, so only the first one compiles the dependencies. */
const TARGET_DIR = join(tmpdir(), 'rustless-test-cargo-target');

// A cold build compiles every dependency: minutes on a Pi, well past tap's default 30 s.
t.setTimeout(15 * 60_000);
const root = await mkdtemp(join(tmpdir(), 'rustless-builder-'));
t.teardown(() => rm(root, { recursive: true, force: true }));

async function collect(events: AsyncIterable<BuildEvent>): Promise<BuildEvent[]> {
  const out: BuildEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

function lines(events: BuildEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'line' ? [event.text] : []));
}

/** A backend as small as the real local one: host cargo, binary copied into the build dir. */
const cargoBackend = {
  toolchain: () => resolveToolchain(),
  async build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    await runCargo(['build', '--release', ...configFlags(job.cargoConfig)], {
      cwd: job.crateDir,
      env: { CARGO_TARGET_DIR: TARGET_DIR },
      output,
      signal: job.signal,
    });
    const binaryPath = join(job.buildDir, 'runner');
    await copyFile(join(TARGET_DIR, 'release', job.binaryName), binaryPath);
    return { binaryPath };
  },
};

interface Harness {
  builder: Builder;
  registry: Registry;
  stateDir: string;
  activated: BuildRecord[];
  conflicts: Set<string>;
}

let harnesses = 0;
function harness(build: Pick<typeof cargoBackend, 'build'>, keepSucceeded?: number): Harness {
  const backend = { toolchain: cargoBackend.toolchain, ...build };
  const stateDir = join(root, `state-${++harnesses}`);
  const registry = new Registry(':memory:');
  const activated: BuildRecord[] = [];
  const conflicts = new Set<string>();
  const builder = new Builder({
    registry,
    backend,
    stateDir,
    runnerDir: RUNNER_DIR,
    keepSucceeded,
    hooks: {
      checkRoutes(manifest: AppManifest) {
        for (const route of manifest.routes) {
          if (conflicts.has(route.path)) throw new RustlessError('RUSTLESS_ROUTE_CONFLICT', `${route.path} belongs to another app`);
        }
      },
      async activate(build, _artifact) {
        registry.activateBuild(build);
        activated.push(build);
      },
    },
  });
  return { builder, registry, stateDir, activated, conflicts };
}

/** GET over the runner's unix socket, the way the gateway talks to it. */
function get(socketPath: string, path: string, fn: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, headers: { 'x-rustless-function': fn, 'x-rustless-params': '{"name":"ann"}' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('real builds through the Builder', async (t) => {
  t.ok(existsSync(join(HELLO, 'Cargo.toml')), 'runner/examples/hello is there');
  const h = harness(cargoBackend);
  t.teardown(() => h.builder.close({ abort: true }).then(() => h.registry.close()));
  const archive = await packCrate(HELLO);

  let started = Date.now();
  const first = await h.builder.submit(archive);
  t.match(first, { app: 'hello', status: 'queued' }, 'submit answers at once with the queued record');
  const events = await collect(h.builder.watch(first.id));
  const firstMs = Date.now() - started;
  t.comment(`first build: ${(firstMs / 1000).toFixed(1)} s (cold when ${TARGET_DIR} was empty)`);
  const done = events.at(-1);
  t.same(done, { type: 'done', status: 'succeeded' }, 'the build succeeded', { lines: lines(events).slice(-30) });
  t.same(events.slice(0, 2), [{ type: 'status', status: 'queued' }, { type: 'status', status: 'building' }]);
  t.match(lines(events)[0], /^rustless: building with cargo \d+\.\d+\.\d+ .* and rustc \d+\.\d+\.\d+ /, 'the first line names the cargo and rustc');
  t.match(lines(events)[1], /^rustless: crates from /, 'then says where crates come from');
  t.ok(lines(events).some((line) => /Compiling hello v0\.1\.0/.test(line)), 'compiler lines are events');
  const binary = join(h.builder.buildDir(first.id), 'runner');
  t.ok(existsSync(binary), 'the binary exists');
  t.match(h.registry.requireBuild(first.id), { status: 'succeeded', artifact: { binaryPath: binary } });
  t.same(h.activated.map((b) => b.id), [first.id], 'activated once');
  t.equal(h.registry.requireApp('hello').currentBuild, first.id);

  await t.test('the binary is a working runner of the app', async (t) => {
    const socket = join(root, 'hello.sock');
    const child = execa(binary, ['--listen', socket], { reject: false });
    t.teardown(() => void child.kill());
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    const res = await get(socket, '/hello/ann', 'Hello');
    t.equal(res.status, 200);
    t.same(JSON.parse(res.body), { message: 'hello ann' });
  });

  started = Date.now();
  const second = await h.builder.submit(archive);
  const warm = await collect(h.builder.watch(second.id));
  t.comment(`warm build: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.same(warm.at(-1), { type: 'done', status: 'succeeded' });

  // A crate that does not compile: the compiler's error reaches the events and the record.
  const broken = join(root, 'broken');
  await cp(HELLO, broken, { recursive: true, filter: (src) => !src.includes(`${HELLO}/target`) });
  await appendFile(join(broken, 'src', 'lib.rs'), '\npub fn broken() -> u32 { nope }\n');
  const third = await h.builder.submit(await packCrate(broken));
  const failed = await collect(h.builder.watch(third.id));
  const end = failed.at(-1);
  t.match(end, { type: 'done', status: 'failed', error: /^error\[E0425\]: cannot find value `nope` in this scope/ });
  t.ok(lines(failed).some((line) => line.startsWith('error[E0425]')), 'the error[E...] line is an event');
  t.match(h.registry.requireBuild(third.id), { status: 'failed', error: /error\[E0425\]/ });
  t.equal(h.registry.requireApp('hello').currentBuild, second.id, 'the previous version keeps serving');
  t.equal(h.activated.length, 2, 'a failed build is never activated');

  const log = await readFile(join(h.builder.buildDir(third.id), 'build.log'), 'utf8');
  t.match(JSON.parse(log.trim().split('\n').at(-1)!), { type: 'done', status: 'failed' }, 'events are in build.log');

  await t.test('rollback', async (t) => {
    const back = await h.builder.rollback('hello');
    t.equal(back.id, first.id, 'to the succeeded build before the current one');
    t.equal(h.activated.at(-1)!.id, first.id);
    await t.rejects(h.builder.rollback('hello'), { code: 'RUSTLESS_BUILD_NOT_FOUND', message: /no earlier succeeded build/ });
    t.equal((await h.builder.rollback('hello', second.id)).id, second.id, 'or to a given build');
    await t.rejects(h.builder.rollback('hello', third.id), { code: 'RUSTLESS_BAD_REQUEST', message: /is failed/ });
    await t.rejects(h.builder.rollback('nope'), { code: 'RUSTLESS_APP_NOT_FOUND' });
  });

  await t.test('watch replays old builds after a restart', async (t) => {
    const again = new Builder({
      registry: h.registry,
      backend: cargoBackend,
      stateDir: h.stateDir,
      runnerDir: RUNNER_DIR,
      hooks: { checkRoutes() {}, activate: async () => {} },
    });
    const replayed = await collect(again.watch(first.id));
    t.same(replayed, events, 'the same events as live');
    const replayedFailure = await collect(again.watch(third.id));
    t.same(replayedFailure.at(-1), failed.at(-1));
    await t.rejects(collect(again.watch(9999)), { code: 'RUSTLESS_BUILD_NOT_FOUND' });
  });
});

t.test('refusals record nothing', async (t) => {
  const h = harness({ build: async () => t.fail('never built') as never });
  t.teardown(() => h.builder.close().then(() => h.registry.close()));
  const uploads = join(h.stateDir, 'uploads');
  const refuses = async (archive: Buffer, expected: { code: string; message?: RegExp }, what: string): Promise<void> => {
    await t.rejects(h.builder.submit(archive), expected, what);
    t.same(h.registry.listApps(), [], `${what}: no app recorded`);
    t.same(await readdir(uploads), [], `${what}: no upload left`);
  };

  h.conflicts.add('/hello');
  await refuses(await tgzOf(CRATE_FILES), { code: 'RUSTLESS_ROUTE_CONFLICT' }, 'a route conflict');
  h.conflicts.clear();

  const withManifest = (text: string) => tgzOf(CRATE_FILES.map((e) => (e.name === 'rustless.toml' ? { ...e, content: text } : e)));
  await refuses(await withManifest('nme = "x"\n'), { code: 'RUSTLESS_INVALID_MANIFEST', message: /^rustless.toml: unknown key `nme`/ }, 'an invalid manifest');
  await refuses(await withManifest('[[routes]]\npath = "/x"\nfunction = "a-b"\n'), { code: 'RUSTLESS_INVALID_MANIFEST' }, 'a function that is no Rust path');
  await refuses(await tgzOf(CRATE_FILES.filter((e) => e.name !== 'src/lib.rs')), { code: 'RUSTLESS_INVALID_UPLOAD', message: /not a library/ }, 'a binary crate');
  await refuses(await tgzOf([...CRATE_FILES, { name: '../x', content: '' }]), { code: 'RUSTLESS_INVALID_UPLOAD' }, 'a hostile archive');
  const withCargo = (extra: string) => tgzOf(CRATE_FILES.map((e) => (e.name === 'Cargo.toml' ? { ...e, content: `${e.content}${extra}` } : e)));
  await refuses(await withCargo('authors.workspace = true\n'), { code: 'RUSTLESS_INVALID_UPLOAD', message: /`package.authors` is inherited from a workspace/ }, 'inheritance from no workspace');
  await refuses(await withCargo('[dependencies]\nserde = { workspace = true }\n'), { code: 'RUSTLESS_INVALID_UPLOAD', message: /`dependencies.serde`/ }, 'a dependency from no workspace');
  t.notOk(existsSync(join(h.stateDir, 'builds')), 'no build directory');
});

/** A backend that builds nothing and finishes when told to, to watch the queue. */
function gatedBackend() {
  const gates: Array<() => void> = [];
  let running = 0;
  let maxRunning = 0;
  const backend = {
    async build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
      running++;
      maxRunning = Math.max(maxRunning, running);
      output.line(`building ${job.buildId}`);
      output.progress(1, 2, 0);
      output.progress(1, 2, 0);
      try {
        await new Promise<void>((resolve, reject) => {
          gates.push(resolve);
          job.signal!.addEventListener('abort', () => reject(new RustlessError('RUSTLESS_BUILD_FAILED', 'the build was cancelled')));
        });
      } finally {
        running--;
      }
      const binaryPath = join(job.buildDir, 'runner');
      await writeFile(binaryPath, 'fake');
      return { binaryPath };
    },
  };
  const release = async (): Promise<void> => {
    while (gates.length === 0) await new Promise((r) => setTimeout(r, 10));
    gates.shift()!();
  };
  return { backend, release, maxRunning: () => maxRunning };
}

t.test('one build at a time, old build dirs pruned, removeApp', async (t) => {
  const gated = gatedBackend();
  const h = harness(gated.backend, 2);
  t.teardown(() => h.builder.close({ abort: true }).then(() => h.registry.close()));
  const archive = await tgzOf(CRATE_FILES);
  const builds = [await h.builder.submit(archive), await h.builder.submit(archive), await h.builder.submit(archive)];
  t.same(builds.map((b) => h.registry.requireBuild(b.id).status), ['building', 'queued', 'queued']);

  const watching = builds.map((b) => collect(h.builder.watch(b.id)));
  for (let i = 0; i < 3; i++) await gated.release();
  const all = await Promise.all(watching);
  t.equal(gated.maxRunning(), 1, 'never two builds at once');
  t.same(all[0], [
    { type: 'status', status: 'queued' },
    { type: 'status', status: 'building' },
    { type: 'line', text: all[0]![2]!.type === 'line' ? all[0]![2]!.text : '' },
    { type: 'line', text: all[0]![3]!.type === 'line' ? all[0]![3]!.text : '' },
    { type: 'line', text: `building ${builds[0]!.id}` },
    { type: 'progress', done: 1, total: 2, compiled: 0 },
    { type: 'done', status: 'succeeded' },
  ], 'repeated progress is sent once');
  t.same(h.activated.map((b) => b.id), builds.map((b) => b.id), 'activated in order');
  t.same(
    builds.map((b) => existsSync(h.builder.buildDir(b.id))),
    [false, true, true],
    'only the last 2 succeeded builds keep their directories',
  );
  await t.rejects(h.builder.rollback('hello', builds[0]!.id), { code: 'RUSTLESS_BUILD_NOT_FOUND', message: /removed with old builds/ });

  await h.builder.removeApp('hello');
  t.same(await readdir(join(h.stateDir, 'builds')), [], 'removeApp deletes the build dirs');
});

t.test('close cancels or waits, and fails what was queued', async (t) => {
  const gated = gatedBackend();
  const h = harness(gated.backend);
  const archive = await tgzOf(CRATE_FILES);
  const running = await h.builder.submit(archive);
  const queued = await h.builder.submit(archive);
  const watchRunning = collect(h.builder.watch(running.id));
  const watchQueued = collect(h.builder.watch(queued.id));
  await h.builder.close({ abort: true });
  t.match((await watchRunning).at(-1), { type: 'done', status: 'failed', error: 'the build was cancelled' });
  t.match((await watchQueued).at(-1), { type: 'done', status: 'failed', error: /stopped before this build started/ });
  t.match(h.registry.requireBuild(queued.id), { status: 'failed' });
  await t.rejects(h.builder.submit(archive), { code: 'RUSTLESS_UNAVAILABLE' });
  t.same(h.activated, []);

  const gate = gatedBackend();
  const w = harness(gate.backend);
  const build = await w.builder.submit(archive);
  let closed = false;
  const closing = w.builder.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(closed, 'close waits for the running build');
  await gate.release();
  await closing;
  t.match(w.registry.requireBuild(build.id), { status: 'succeeded' });
  for (const x of [h, w]) x.registry.close();
});
