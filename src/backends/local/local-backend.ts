/**
 * The local backend: runners built with the host's cargo and run as child processes, each
 * handed a listening unix socket through LISTEN_FDS, started on the first request.
 * No systemd or Podman needed: the default on a fresh machine and for development.
 * As root, builds and runners run as an unprivileged user in a sandbox dir (run-as.ts).
 */
import { chown, copyFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AppManifest } from '../../manifest/manifest.js';
import { RustlessError } from '../../errors.js';
import type { FailureContext } from '../../cargo/build-failure.js';
import { DEBIAN_REGISTRY } from '../../cargo/crate-source.js';
import { jobsForThisHost } from '../../cargo/jobs.js';
import { configFlags, runCargo } from '../../cargo/run-cargo.js';
import { resolveToolchain, toolchainEnv, type Toolchain } from '../../cargo/toolchain.js';
import { SecretStore } from '../../secrets/secret-store.js';
import { dataDir, secretsDir } from '../app-dirs.js';
import { STARTED, type Activation, type Backend, type BuildArtifact, type BuildJob, type BuildOutput, type LogOptions, type MemoryLimits, type RunnerExit, type RuntimeStatus } from '../backend.js';
import { LogRing } from './log-ring.js';
import { RunnerProcess, type ProcessEnd } from './runner-process.js';
import type { RunAs } from './run-as.js';
import { SandboxDir } from './sandbox-dir.js';
import { openStateDirTo } from './state-dir-access.js';
import { makeDirectory } from '../../storage/make-directory.js';

/**
 * How long `runnerExit` waits for a runner's exit to be seen: the gateway may see the runner's
 * connections close a moment before node reaps the process.
 */
const EXIT_WAIT_MS = 500;

/** The cache (and the build user's sandbox) of a root gateway: outside root's 0700 home. */
export const ROOT_CACHE_DIR = '/var/cache/rustless/local';

export interface LocalBackendOptions {
  stateDir: string;
  /** Where cargo keeps compiled dependencies between builds; defaults to `<stateDir>/cache`. */
  cacheDir?: string | undefined;
  /** Run builds and runners as this user (the gateway is root); see run-as.ts. */
  runAs?: RunAs | undefined;
}

interface LocalApp {
  binaryPath: string | undefined;
  manifest: AppManifest | undefined;
  runner: RunnerProcess | undefined;
  starting: Promise<RunnerProcess> | undefined;
  /** How the last runner that ended did; kept after a new one starts. */
  lastEnd: ProcessEnd | undefined;
  log: LogRing;
}

export class LocalBackend implements Backend {
  readonly kind = 'local' as const;
  readonly memoryLimits: MemoryLimits = { enforced: false, reason: 'the local backend sets no memory limits (runners and builds are plain child processes)', fix: 'use the systemd backend' };
  readonly #stateDir: string;
  readonly #cacheDir: string;
  readonly #secrets: SecretStore;
  readonly #apps = new Map<string, LocalApp>();
  readonly #runAs: RunAs | undefined;
  #sandbox: Promise<SandboxDir> | undefined;

  constructor({ stateDir, cacheDir, runAs }: LocalBackendOptions) {
    this.#stateDir = stateDir;
    this.#cacheDir = cacheDir ?? (runAs ? ROOT_CACHE_DIR : join(stateDir, 'cache'));
    this.#runAs = runAs;
    this.#secrets = new SecretStore(secretsDir(stateDir));
  }

  /** Who builds and runners run as: `root` or the unprivileged user. */
  get runsAs(): string {
    return this.#runAs?.user ?? (process.getuid?.() === 0 ? 'root' : 'the gateway\'s user');
  }

  /**
   * The runner/ directory builds should link against: as is, or a copy the build user can read
   * (the checkout may sit in root's 0700 home).
   */
  async runnerDirFor(runnerDir: string): Promise<string> {
    const sandbox = await this.#openSandbox();
    return sandbox ? sandbox.stageRunnerCrates(runnerDir) : runnerDir;
  }

  /** The toolchain its builds run: as the unprivileged user when there is one (rustup's under /root is not). */
  toolchain(): Promise<Toolchain> {
    return resolveToolchain({ runAs: this.#runAs });
  }

  async build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    const sandbox = await this.#openSandbox();
    if (sandbox) return this.#buildAs(sandbox, job, output);
    const targetDir = join(this.#cacheDir, 'target');
    await runCargo(['build', '--release', ...(await this.#jobsFlag(output)), ...configFlags(job.cargoConfig)], {
      cwd: job.crateDir,
      env: { CARGO_TARGET_DIR: targetDir, ...toolchainEnv(job.toolchain) },
      output,
      command: [job.toolchain.cargo],
      failure: failureContext(job),
      ...(job.signal ? { signal: job.signal } : {}),
    });
    const binaryPath = join(job.buildDir, 'runner');
    await copyFile(join(targetDir, 'release', job.binaryName), binaryPath);
    return { binaryPath };
  }

  async install(app: string, manifest: AppManifest, artifact: BuildArtifact): Promise<void> {
    const state = this.#app(app);
    // The gateway calls install with nothing in flight: the old runner can go at once.
    await this.stop(app);
    const sandbox = await this.#openSandbox();
    if (sandbox) {
      // The build dir is root's; the user runs a root-owned copy it can execute, not change.
      const previous = state.binaryPath;
      state.binaryPath = await sandbox.installBinary(app, artifact.binaryPath);
      if (previous && previous !== state.binaryPath) await sandbox.removeBinary(previous);
    } else {
      state.binaryPath = artifact.binaryPath;
    }
    state.manifest = manifest;
    // Made at deploy, not at first start: from now on `rm` asks what to do with it.
    if (manifest.storage.data) await this.#makeDataDir(app);
  }

  /** The runner's socket is its own: a request can only go once it listens. */
  async activate(app: string): Promise<Activation> {
    const state = this.#app(app);
    if (!state.binaryPath) throw new RustlessError('RUSTLESS_UNAVAILABLE', `app ${app} has no successful build to run`);
    if (!state.runner?.alive) {
      state.starting ??= this.#start(app, state.binaryPath, state).finally(() => (state.starting = undefined));
      await state.starting;
    }
    return { socketPath: this.#socketPath(app), started: STARTED };
  }

  async stop(app: string): Promise<void> {
    const state = this.#apps.get(app);
    if (!state) return;
    await state.starting?.catch(() => undefined);
    const runner = state.runner;
    state.runner = undefined;
    await runner?.stop();
  }

  async secretsChanged(app: string): Promise<void> {
    // Secrets are delivered at start: the next request starts a runner that sees the new set.
    await this.stop(app);
  }

  async status(app: string): Promise<RuntimeStatus> {
    const state = this.#apps.get(app);
    if (state?.starting) return { state: 'starting' };
    if (state?.runner?.alive) return { state: 'running', pid: state.runner.pid!, detail: `pid ${state.runner.pid}` };
    return { state: 'stopped' };
  }

  async runnerExit(app: string, since: number): Promise<RunnerExit | undefined> {
    const state = this.#apps.get(app);
    if (!state) return undefined;
    const endedSince = (): RunnerExit | undefined => (state.lastEnd && state.lastEnd.at >= since ? { reason: state.lastEnd.reason } : undefined);
    const runner = state.runner;
    if (endedSince() === undefined && runner?.alive) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([runner.exited, new Promise((resolve) => (timer = setTimeout(resolve, EXIT_WAIT_MS)))]);
      clearTimeout(timer);
    }
    return endedSince();
  }

  logs(app: string, options: LogOptions = {}): AsyncIterable<string> {
    return this.#app(app).log.read(options);
  }

  async remove(app: string): Promise<void> {
    const state = this.#apps.get(app);
    await this.stop(app);
    this.#apps.delete(app);
    await rm(this.#socketPath(app), { force: true });
    await rm(join(this.#stateDir, 'run', 'secrets', app), { recursive: true, force: true });
    if (state?.binaryPath) await (await this.#openSandbox())?.removeBinary(state.binaryPath);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#apps.keys()].map((app) => this.stop(app)));
  }

  async #start(app: string, binaryPath: string, state: LocalApp): Promise<RunnerProcess> {
    await makeDirectory(join(this.#stateDir, 'run'));
    const secrets = join(this.#stateDir, 'run', 'secrets', app);
    await this.#secrets.deliver(app, secrets, this.#runAs);
    let data: string | undefined;
    if (state.manifest?.storage.data) data = await this.#makeDataDir(app);
    const config = { env: state.manifest?.env ?? {}, secretsDir: secrets, dataDir: data, runAs: this.#runAs };
    const runner = await RunnerProcess.start(app, binaryPath, this.#socketPath(app), state.log, config);
    void runner.exited.then(() => (state.lastEnd = runner.ended));
    state.runner = runner;
    return runner;
  }

  /** `-j N` from the memory available (no build limit of its own here); the choice goes to the build log. */
  async #jobsFlag(output: BuildOutput): Promise<string[]> {
    const { jobs, reason } = await jobsForThisHost(undefined);
    output.line(`rustless: ${reason}`);
    return ['-j', String(jobs)];
  }

  /** Compiles in the build user's copy of the crate, as that user, with the toolchain it can run. */
  async #buildAs(sandbox: SandboxDir, job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    const runAs = sandbox.runAs;
    const cargo = job.toolchain.cargo;
    output.line(`rustless: building as the unprivileged user ${runAs.user}`);
    const work = await sandbox.workCopy(job.crateDir, job.app);
    try {
      await runCargo(['build', '--release', ...(await this.#jobsFlag(output)), ...configFlags(job.cargoConfig)], {
        cwd: work,
        // PATH without root's rustup: that cargo would run a rustc the user cannot reach.
        env: { CARGO_TARGET_DIR: sandbox.targetDir, CARGO_HOME: join(sandbox.home, 'cargo'), HOME: sandbox.home, PATH: `${dirname(cargo)}:/usr/local/bin:/usr/bin:/bin`, ...toolchainEnv(job.toolchain) },
        output,
        command: [cargo],
        runAs,
        failure: failureContext(job),
        ...(job.signal ? { signal: job.signal } : {}),
      });
    } finally {
      await sandbox.removeWorkCopy(work);
    }
    const binaryPath = join(job.buildDir, 'runner');
    await copyFile(join(sandbox.targetDir, 'release', job.binaryName), binaryPath);
    return { binaryPath };
  }

  /** The app's data directory, the runner's own (the unprivileged user's, as root). */
  async #makeDataDir(app: string): Promise<string> {
    const dir = dataDir(this.#stateDir, app);
    await makeDirectory(dir, 0o700);
    if (this.#runAs) await chown(dir, this.#runAs.uid, this.#runAs.gid);
    return dir;
  }

  #openSandbox(): Promise<SandboxDir | undefined> {
    if (!this.#runAs) return Promise.resolve(undefined);
    const runAs = this.#runAs;
    this.#sandbox ??= openStateDirTo(this.#stateDir, runAs).then((warning) => {
      if (warning) console.error(warning);
      return SandboxDir.open(join(this.#cacheDir, `as-${runAs.user}`), runAs);
    });
    return this.#sandbox;
  }

  #socketPath(app: string): string {
    return join(this.#stateDir, 'run', `${app}.sock`);
  }

  #app(app: string): LocalApp {
    let state = this.#apps.get(app);
    if (!state) {
      state = { binaryPath: undefined, manifest: undefined, runner: undefined, starting: undefined, lastEnd: undefined, log: new LogRing() };
      this.#apps.set(app, state);
    }
    return state;
  }
}

function failureContext(job: BuildJob): FailureContext {
  return { crateSource: job.crateSource, registry: DEBIAN_REGISTRY, toolchain: job.toolchain };
}
