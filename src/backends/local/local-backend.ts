/**
 * The local backend: runners built with the host's cargo and run as child processes, each
 * handed a listening unix socket through LISTEN_FDS, started on the first request.
 * No systemd or Podman needed: the default on a fresh machine and for development.
 * As root, builds and runners run as an unprivileged user in a sandbox dir (run-as.ts).
 */
import { chmod, copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AppManifest } from '../../manifest/manifest.js';
import { RustlessError } from '../../errors.js';
import { configFlags, runCargo } from '../../builder/cargo.js';
import type { Backend, BuildArtifact, BuildJob, BuildOutput, LogOptions, RuntimeStatus } from '../backend.js';
import { LogRing } from './log-ring.js';
import { RunnerProcess } from './runner-process.js';
import { cargoFor, type RunAs } from './run-as.js';
import { SandboxDir } from './sandbox-dir.js';

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
  runner: RunnerProcess | undefined;
  starting: Promise<RunnerProcess> | undefined;
  log: LogRing;
}

export class LocalBackend implements Backend {
  readonly kind = 'local' as const;
  readonly #stateDir: string;
  readonly #cacheDir: string;
  readonly #apps = new Map<string, LocalApp>();
  readonly #runAs: RunAs | undefined;
  #sandbox: Promise<SandboxDir> | undefined;

  constructor({ stateDir, cacheDir, runAs }: LocalBackendOptions) {
    this.#stateDir = stateDir;
    this.#cacheDir = cacheDir ?? (runAs ? ROOT_CACHE_DIR : join(stateDir, 'cache'));
    this.#runAs = runAs;
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

  async build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    const sandbox = await this.#openSandbox();
    if (sandbox) return this.#buildAs(sandbox, job, output);
    const targetDir = join(this.#cacheDir, 'target');
    await runCargo(['build', '--release', ...configFlags(job.cargoConfig)], {
      cwd: job.crateDir,
      env: { CARGO_TARGET_DIR: targetDir },
      output,
      ...(job.signal ? { signal: job.signal } : {}),
    });
    const binaryPath = join(job.buildDir, 'runner');
    await copyFile(join(targetDir, 'release', job.binaryName), binaryPath);
    return { binaryPath };
  }

  async install(app: string, _manifest: AppManifest, artifact: BuildArtifact): Promise<void> {
    const state = this.#app(app);
    // The gateway calls install with nothing in flight: the old runner can go at once.
    await this.stop(app);
    const sandbox = await this.#openSandbox();
    if (sandbox) {
      // The build dir is root's; the user runs a root-owned copy it can execute, not change.
      await copyFile(artifact.binaryPath, sandbox.binaryPath(app));
      await chmod(sandbox.binaryPath(app), 0o755);
      state.binaryPath = sandbox.binaryPath(app);
    } else {
      state.binaryPath = artifact.binaryPath;
    }
  }

  async activate(app: string): Promise<string> {
    const state = this.#app(app);
    if (!state.binaryPath) throw new RustlessError('RUSTLESS_UNAVAILABLE', `app ${app} has no successful build to run`);
    if (state.runner?.alive) return this.#socketPath(app);
    state.starting ??= this.#start(app, state.binaryPath, state).finally(() => (state.starting = undefined));
    await state.starting;
    return this.#socketPath(app);
  }

  async stop(app: string): Promise<void> {
    const state = this.#apps.get(app);
    if (!state) return;
    await state.starting?.catch(() => undefined);
    const runner = state.runner;
    state.runner = undefined;
    await runner?.stop();
  }

  async status(app: string): Promise<RuntimeStatus> {
    const state = this.#apps.get(app);
    if (state?.starting) return { state: 'starting' };
    if (state?.runner?.alive) return { state: 'running', pid: state.runner.pid!, detail: `pid ${state.runner.pid}` };
    return { state: 'stopped' };
  }

  logs(app: string, options: LogOptions = {}): AsyncIterable<string> {
    return this.#app(app).log.read(options);
  }

  async remove(app: string): Promise<void> {
    await this.stop(app);
    this.#apps.delete(app);
    await rm(this.#socketPath(app), { force: true });
  }

  async close(): Promise<void> {
    await Promise.all([...this.#apps.keys()].map((app) => this.stop(app)));
  }

  async #start(app: string, binaryPath: string, state: LocalApp): Promise<RunnerProcess> {
    await mkdir(join(this.#stateDir, 'run'), { recursive: true });
    const runner = await RunnerProcess.start(app, binaryPath, this.#socketPath(app), state.log, this.#runAs);
    state.runner = runner;
    return runner;
  }

  /** Compiles in the build user's copy of the crate, as that user, with its own cargo. */
  async #buildAs(sandbox: SandboxDir, job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    const runAs = sandbox.runAs;
    const cargo = await cargoFor(runAs);
    output.line(`rustless: building as the unprivileged user ${runAs.user} with ${cargo}`);
    const work = await sandbox.workCopy(job.crateDir, job.app);
    await runCargo(['build', '--release', ...configFlags(job.cargoConfig)], {
      cwd: work,
      // PATH without root's rustup: that cargo would run a rustc the user cannot reach.
      env: { CARGO_TARGET_DIR: sandbox.targetDir, CARGO_HOME: join(sandbox.home, 'cargo'), HOME: sandbox.home, PATH: `${dirname(cargo)}:/usr/local/bin:/usr/bin:/bin` },
      output,
      command: [cargo],
      runAs,
      ...(job.signal ? { signal: job.signal } : {}),
    });
    const binaryPath = join(job.buildDir, 'runner');
    await copyFile(join(sandbox.targetDir, 'release', job.binaryName), binaryPath);
    return { binaryPath };
  }

  #openSandbox(): Promise<SandboxDir | undefined> {
    if (!this.#runAs) return Promise.resolve(undefined);
    this.#sandbox ??= SandboxDir.open(join(this.#cacheDir, `as-${this.#runAs.user}`), this.#runAs);
    return this.#sandbox;
  }

  #socketPath(app: string): string {
    return join(this.#stateDir, 'run', `${app}.sock`);
  }

  #app(app: string): LocalApp {
    let state = this.#apps.get(app);
    if (!state) {
      state = { binaryPath: undefined, runner: undefined, starting: undefined, log: new LogRing() };
      this.#apps.set(app, state);
    }
    return state;
  }
}
