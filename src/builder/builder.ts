/**
 * The builder: takes an uploaded crate, checks it, records a build, and compiles it in the
 * background, one build at a time (a Pi has few cores and little memory). Only a successful
 * build is activated; a failed one leaves the app's previous version serving.
 *
 * Layout: `<stateDir>/uploads/` holds uploads being checked; `<stateDir>/builds/<id>/` holds a
 * build's runner crate (Cargo.toml, src/main.rs, app/), `build.json` ({ id, app }) and
 * `build.log` (its events, one JSON per line) for watchers after a restart.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, rmSync, type WriteStream } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, BuildArtifact, BuildJob, BuildOutput } from '../backends/backend.js';
import { RustlessError } from '../errors.js';
import type { AppManifest } from '../manifest/manifest.js';
import type { BuildRecord, Registry } from '../registry/registry.js';
import { detectCrateSource, type CrateSource } from '../cargo/crate-source.js';
import { describeToolchain } from '../cargo/toolchain.js';
import type { BuildEvent } from './events.js';
import type { UploadLimits } from './upload-limits.js';
import { syncFilesystems } from '../storage/durable-file.js';
import { isNoSpace, noSpaceError } from '../storage/no-space.js';
import { makeDirectory } from '../storage/make-directory.js';

export interface BuilderHooks {
  /** Throws RUSTLESS_ROUTE_CONFLICT when the manifest's routes collide with another app's. */
  checkRoutes(manifest: AppManifest): void;
  /** Makes a succeeded build the app's serving version (backend install, routes swap). */
  activate(build: BuildRecord, artifact: BuildArtifact): Promise<void>;
  /** A build that ran ended (for metrics); `seconds` from its start to serving or failure. */
  finished?(app: string, outcome: 'succeeded' | 'failed', seconds: number): void;
}

export interface BuilderOptions {
  registry: Registry;
  backend: Pick<Backend, 'build' | 'toolchain'>;
  stateDir: string;
  /** The `runner/` directory holding the `rustless` and `rustless-runner` crates. */
  runnerDir: string;
  hooks: BuilderHooks;
  uploadLimits?: Partial<UploadLimits>;
  /** Succeeded builds per app whose directories are kept for rollback (default 5). */
  keepSucceeded?: number;
  /** Where crates come from; `detectCrateSource` by default. */
  crateSource?: () => Promise<CrateSource>;
}

interface BuildState {
  id: number;
  app: string;
  events: BuildEvent[];
  done: boolean;
  wake: Set<() => void>;
  log: WriteStream;
  controller: AbortController;
  lastProgress: string;
}

interface QueuedBuild {
  state: BuildState;
  /** What is known at upload; the toolchain, crate source and shared crates are looked at when it starts. */
  job: Omit<BuildJob, 'cargoConfig' | 'crateSource' | 'toolchain' | 'depsCrates'>;
}

/** Finished builds whose events stay in memory; older ones are replayed from build.log. */
const FINISHED_IN_MEMORY = 20;
const BUILD_META = 'build.json';
const BUILD_LOG = 'build.log';

export class Builder {
  readonly #registry: Registry;
  readonly #backend: Pick<Backend, 'build' | 'toolchain'>;
  readonly #stateDir: string;
  readonly #runnerDir: string;
  readonly #hooks: BuilderHooks;
  readonly #uploadLimits: Partial<UploadLimits>;
  readonly #keepSucceeded: number;
  readonly #crateSource: () => Promise<CrateSource>;
  readonly #states = new Map<number, BuildState>();
  #queue: QueuedBuild[] = [];
  #running: { state: BuildState; promise: Promise<void> } | undefined;
  #closed = false;

  constructor({ registry, backend, stateDir, runnerDir, hooks, uploadLimits = {}, keepSucceeded = 5, crateSource = () => detectCrateSource() }: BuilderOptions) {
    this.#registry = registry;
    this.#backend = backend;
    this.#stateDir = stateDir;
    this.#runnerDir = runnerDir;
    this.#hooks = hooks;
    this.#uploadLimits = uploadLimits;
    this.#keepSucceeded = Math.max(1, keepSucceeded);
    this.#crateSource = crateSource;
    // Uploads half-checked when a previous process stopped belong to no build.
    rmSync(this.#uploadsDir, { recursive: true, force: true });
  }

  get #uploadsDir(): string {
    return join(this.#stateDir, 'uploads');
  }

  /** The directory of build `id`: its runner crate, artifacts and log. */
  buildDir(id: number): string {
    return join(this.#stateDir, 'builds', String(id));
  }

  /**
   * Checks an uploaded `.tar.gz` and queues its build. Resolves with the queued record at once;
   * rejects (recording nothing, writing nothing under builds/) on an unsafe upload, a Cargo.toml
   * the runner cannot build, an invalid manifest or a route conflict: every check runs before
   * the build is recorded.
   */
  async submit(archive: Buffer): Promise<BuildRecord> {
    this.#assertOpen();
    // Uploads are other people's source: root's alone, even when functions run as another user.
    await makeDirectory(this.#uploadsDir, 0o700);
    const staging = join(this.#uploadsDir, randomUUID());
    let build: BuildRecord | undefined;
    try {
      const { unpackUpload, inspectUserCrate, parseManifest, MANIFEST_FILE, distinctFunctions, generateRunnerCrate } = await import('./build-steps.js');
      await unpackUpload(archive, staging, this.#uploadLimits);
      const crate = await inspectUserCrate(staging);
      const manifest = parseManifest(await readFile(join(staging, MANIFEST_FILE), 'utf8'), { file: MANIFEST_FILE, crateName: crate.name });
      distinctFunctions(manifest);
      this.#hooks.checkRoutes(manifest);
      this.#assertOpen();

      build = this.#registry.createBuild(manifest);
      const dir = this.buildDir(build.id);
      await makeDirectory(dir);
      await writeFile(join(dir, BUILD_META), `${JSON.stringify({ id: build.id, app: build.app })}\n`);
      const { binaryName } = await generateRunnerCrate({ buildDir: dir, uploadDir: staging, manifest, runnerDir: this.#runnerDir });

      const state = this.#track(build);
      this.#emit(state, { type: 'status', status: 'queued' });
      this.#queue.push({ state, job: { app: build.app, buildId: build.id, crateDir: dir, buildDir: dir, binaryName, manifest, runnerDir: this.#runnerDir } });
      // The record as queued: the build may start (and mark itself building) right below.
      const queued = this.#registry.requireBuild(build.id);
      this.#pump();
      return queued;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      const thrown = isNoSpace(error) ? noSpaceError('receiving the upload', this.#stateDir, error) : error;
      if (build) {
        // Only a failure to write the runner crate (a full disk, say) gets here: no half-written build stays.
        await rm(this.buildDir(build.id), { recursive: true, force: true });
        try {
          this.#registry.markFailed(build.id, (thrown as Error).message);
        } catch {
          // A registry on a full disk keeps the build `queued`: the next start marks it failed.
        }
      }
      throw thrown;
    }
  }

  /**
   * The events of build `buildId`: the past ones first (from memory, or from its build.log and
   * the registry after a restart), then live ones, ending with `done`.
   */
  async *watch(buildId: number, { signal }: { signal?: AbortSignal } = {}): AsyncIterable<BuildEvent> {
    const state = this.#states.get(buildId);
    if (!state) {
      yield* this.#replay(buildId);
      return;
    }
    let index = 0;
    for (;;) {
      while (index < state.events.length) {
        const event = state.events[index++]!;
        yield event;
        if (event.type === 'done') return;
      }
      if (signal?.aborted) return;
      await nextWake(state, signal);
    }
  }

  /** Serves the app's previous succeeded build again, or build `buildId` when given. */
  async rollback(app: string, buildId?: number): Promise<BuildRecord> {
    const record = this.#registry.requireApp(app);
    let target: BuildRecord | undefined;
    if (buildId !== undefined) {
      target = this.#registry.requireBuild(buildId);
      if (target.app !== app) throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `build #${buildId} belongs to ${JSON.stringify(target.app)}, not to ${JSON.stringify(app)}`);
      if (target.status !== 'succeeded') {
        throw new RustlessError('RUSTLESS_BAD_REQUEST', `build #${buildId} of ${JSON.stringify(app)} is ${target.status}; only a succeeded build can serve`);
      }
    } else {
      const current = record.currentBuild;
      target = this.#registry.listBuilds(app).find((build) => build.status === 'succeeded' && (current === null || build.id < current));
      if (!target) throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `${JSON.stringify(app)} has no earlier succeeded build to roll back to`);
    }
    if (!existsSync(this.buildDir(target.id))) {
      throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `build #${target.id} of ${JSON.stringify(app)} was removed with old builds (the last ${this.#keepSucceeded} succeeded builds are kept)`);
    }
    this.#hooks.checkRoutes(target.manifest);
    await this.#hooks.activate(target, target.artifact as BuildArtifact);
    return target;
  }

  /** Forgets an app's builds: drops queued ones, cancels a running one, deletes their directories. */
  async removeApp(app: string): Promise<void> {
    const dropped = this.#queue.filter((item) => item.state.app === app);
    this.#queue = this.#queue.filter((item) => item.state.app !== app);
    for (const { state } of dropped) this.#finish(state, 'failed', `the app ${JSON.stringify(app)} was deleted`);
    const running = this.#running;
    if (running?.state.app === app) {
      running.state.controller.abort();
      await running.promise;
    }
    // Scans the directories rather than the registry: the app's rows may be gone already.
    const root = join(this.#stateDir, 'builds');
    for (const name of await readdir(root).catch(() => [] as string[])) {
      const meta = await readFile(join(root, name, BUILD_META), 'utf8').then(
        (text) => JSON.parse(text) as { app?: unknown },
        () => undefined,
      );
      if (meta?.app === app) await rm(join(root, name), { recursive: true, force: true });
    }
  }

  /**
   * At start: deletes build directories the registry has no build for (an `rm` cut short by a
   * power cut removes the rows first). Returns what it did, for the gateway's recovery line.
   */
  async removeOrphans(): Promise<string[]> {
    const root = join(this.#stateDir, 'builds');
    const orphans = (await readdir(root).catch(() => [] as string[])).filter((name) => /^\d+$/.test(name) && this.#registry.getBuild(Number(name)) === undefined);
    for (const name of orphans) await rm(join(root, name), { recursive: true, force: true });
    return orphans.length > 0 ? [`${orphans.length} build director${orphans.length === 1 ? 'y' : 'ies'} of removed apps deleted`] : [];
  }

  /**
   * Stops taking builds and fails the queued ones; waits for the running build to end, or with
   * `abort` cancels it first.
   */
  async close({ abort = false }: { abort?: boolean } = {}): Promise<void> {
    this.#closed = true;
    const queued = this.#queue;
    this.#queue = [];
    for (const { state } of queued) {
      this.#registry.markFailed(state.id, 'the gateway stopped before this build started');
      this.#finish(state, 'failed', 'the gateway stopped before this build started');
    }
    const running = this.#running;
    if (running) {
      if (abort) running.state.controller.abort();
      await running.promise;
    }
  }

  /** A build is queued or running. */
  get busy(): boolean {
    return this.#running !== undefined || this.#queue.length > 0;
  }

  #assertOpen(): void {
    if (this.#closed) throw new RustlessError('RUSTLESS_UNAVAILABLE', 'the gateway is shutting down and takes no new builds; try again once it is back');
  }

  #pump(): void {
    if (this.#running || this.#closed) return;
    const next = this.#queue.shift();
    if (!next) return;
    const promise = this.#run(next).finally(() => {
      this.#running = undefined;
      this.#pump();
    });
    this.#running = { state: next.state, promise };
  }

  async #run({ state, job }: QueuedBuild): Promise<void> {
    const { signal } = state.controller;
    const started = performance.now();
    const finished = (outcome: 'succeeded' | 'failed'): void => this.#hooks.finished?.(state.app, outcome, (performance.now() - started) / 1000);
    try {
      this.#registry.markBuilding(state.id);
      this.#emit(state, { type: 'status', status: 'building' });
      // The first line of every build log: which cargo and rustc (what `rustless doctor` reports too).
      const toolchain = await this.#backend.toolchain();
      this.#emit(state, { type: 'line', text: `rustless: building with ${describeToolchain(toolchain)}` });
      const source = await this.#crateSource();
      this.#emit(state, { type: 'line', text: `rustless: ${source.reason}` });
      if (source.kind === 'none') throw new RustlessError('RUSTLESS_BUILD_FAILED', `${source.reason}. \`rustless doctor\` on the gateway's machine says how to fix it`);
      const output: BuildOutput = {
        line: (text) => this.#emit(state, { type: 'line', text }),
        progress: (done, total, compiled) => this.#emit(state, { type: 'progress', done, total, compiled }),
      };
      const { prepareDepsCrates } = await import('./build-steps.js');
      const depsCrates = await prepareDepsCrates(join(this.#stateDir, 'deps-crates'), this.#runnerDir);
      // Cancelled while the toolchain and crates were looked at: nothing to start.
      if (signal.aborted) throw new RustlessError('RUSTLESS_BUILD_FAILED', 'the build was cancelled');
      const buildJob: BuildJob = { ...job, cargoConfig: source.cargoConfig, crateSource: source.kind, toolchain, depsCrates, signal };
      const artifact = await this.#backend.build(buildJob, output);
      if (signal.aborted) throw new RustlessError('RUSTLESS_BUILD_FAILED', 'the build was cancelled');
      // The binary (and the image, which the backend synced) must be on the disk before the
      // registry says succeeded: a build answered `live` survives a power cut.
      await syncFilesystems([job.buildDir]);

      this.#registry.markSucceeded(state.id, artifact);
      const build = this.#registry.requireBuild(state.id);
      try {
        // Another app may have taken one of these routes while this one compiled.
        this.#hooks.checkRoutes(build.manifest);
        await this.#hooks.activate(build, artifact);
      } catch (error) {
        throw new RustlessError(codeOf(error), `the build succeeded but could not be activated: ${(error as Error).message}`, { cause: error });
      }
      await this.#prune(state.app);
      this.#finish(state, 'succeeded');
      finished('succeeded');
    } catch (error) {
      const failure = isNoSpace(error) ? noSpaceError(`build #${state.id} of ${state.app}`, this.buildDir(state.id), error) : error;
      const message = failure instanceof Error ? failure.message : String(failure);
      try {
        this.#registry.markFailed(state.id, message);
      } catch (registryError) {
        // A full disk may refuse this write too: the build stays `building` until the next start fails it.
        console.error(`rustless: recording build #${state.id} as failed: ${(registryError as Error).message}`);
      }
      this.#finish(state, 'failed', message);
      finished('failed');
    }
  }

  /** Deletes the directories of builds older than the last `keepSucceeded` succeeded ones. */
  async #prune(app: string): Promise<void> {
    const builds = this.#registry.listBuilds(app);
    const oldestKept = builds.filter((build) => build.status === 'succeeded')[this.#keepSucceeded - 1];
    if (!oldestKept) return;
    const current = this.#registry.getApp(app)?.currentBuild;
    for (const build of builds) {
      if (build.id >= oldestKept.id || build.id === current) continue;
      if (this.#states.get(build.id)?.done === false) continue;
      await rm(this.buildDir(build.id), { recursive: true, force: true });
    }
  }

  #track(build: BuildRecord): BuildState {
    const state: BuildState = {
      id: build.id,
      app: build.app,
      events: [],
      done: false,
      wake: new Set(),
      log: createWriteStream(join(this.buildDir(build.id), BUILD_LOG), { flags: 'a' }),
      controller: new AbortController(),
      lastProgress: '',
    };
    // A log that cannot be written (disk full, dir removed) must not take the gateway down.
    state.log.on('error', () => {});
    this.#states.set(build.id, state);
    return state;
  }

  #emit(state: BuildState, event: BuildEvent): void {
    if (state.done) return;
    if (event.type === 'progress') {
      // cargo redraws its bar for every crate name change; watchers only need new numbers.
      const key = `${event.done}/${event.total}/${event.compiled}`;
      if (key === state.lastProgress) return;
      state.lastProgress = key;
    }
    state.events.push(event);
    state.log.write(`${JSON.stringify(event)}\n`);
    for (const wake of state.wake) wake();
    state.wake.clear();
  }

  #finish(state: BuildState, status: 'succeeded' | 'failed', error?: string): void {
    this.#emit(state, error === undefined ? { type: 'done', status } : { type: 'done', status, error });
    state.done = true;
    state.log.end();
    let finished = [...this.#states.values()].filter((s) => s.done).length;
    for (const [id, other] of this.#states) {
      if (finished <= FINISHED_IN_MEMORY) break;
      if (!other.done) continue;
      this.#states.delete(id);
      finished--;
    }
  }

  async *#replay(buildId: number): AsyncIterable<BuildEvent> {
    const build = this.#registry.requireBuild(buildId);
    const text = await readFile(join(this.buildDir(buildId), BUILD_LOG), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let event: BuildEvent;
      try {
        event = JSON.parse(line) as BuildEvent;
      } catch {
        // A line cut short by a crash; the rest of the log is still worth showing.
        continue;
      }
      // The registry has the last word on how the build ended.
      if (event.type !== 'done') yield event;
    }
    if (build.status === 'succeeded') yield { type: 'done', status: 'succeeded' };
    else if (build.status === 'failed') yield { type: 'done', status: 'failed', error: build.error ?? 'the build failed' };
    else yield { type: 'done', status: 'failed', error: 'the gateway stopped during this build' };
  }
}

function nextWake(state: BuildState, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      signal?.removeEventListener('abort', wake);
      state.wake.delete(wake);
      resolve();
    };
    state.wake.add(wake);
    signal?.addEventListener('abort', wake, { once: true });
  });
}

function codeOf(error: unknown): RustlessError['code'] {
  return error instanceof RustlessError ? error.code : 'RUSTLESS_BACKEND_FAILED';
}
