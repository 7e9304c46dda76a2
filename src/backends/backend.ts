/**
 * The one interface between the gateway and whatever runs function apps. The gateway never
 * calls systemctl, podman or spawn itself: a new way to run apps is a new folder here.
 */
import type { Toolchain } from '../cargo/toolchain.js';
import type { AppManifest } from '../manifest/manifest.js';

/** A runner crate ready to compile, prepared by the builder. */
export interface BuildJob {
  app: string;
  buildId: number;
  /** The generated runner crate (its Cargo.toml is here). */
  crateDir: string;
  /** The build's own directory; artifacts go under it. */
  buildDir: string;
  /** Name of the binary `cargo build` produces. */
  binaryName: string;
  manifest: AppManifest;
  /** Extra `cargo --config` values (offline crate source, for example). */
  cargoConfig: string[];
  /** Where crates come from (for a failed build's advice, and the shared dependencies' network). */
  crateSource: 'debian' | 'crates-io';
  /** The cargo and rustc to build with: what the build log's first line and `rustless doctor` name. */
  toolchain: Toolchain;
  /** The runner/ directory the runner crate links. */
  runnerDir: string;
  /** Crates rust-less wrote to prebuild the usual dependencies from (a backend may share them between apps). */
  depsCrates?: DepsCrates;
  /** Aborted when the build is cancelled (the app is deleted, the gateway stops). */
  signal?: AbortSignal;
}

/** The crates of the shared dependencies (src/builder/deps-crates.ts): no uploaded code in them. */
export interface DepsCrates {
  /** Holds one crate directory per name. */
  dir: string;
  names: string[];
  /** sha256 of the recipe and runner/'s `rustless` and `rustless-runner` crates (paths, times, contents). */
  fingerprint: string;
}

/** What a successful build leaves for `install`: a binary, and for container backends an image. */
export interface BuildArtifact {
  binaryPath: string;
  image?: string;
}

/** Output of a build as it happens: compiler lines, and progress when cargo reports it. */
export interface BuildOutput {
  line(text: string): void;
  /** cargo's count of units ready (prebuilt ones included) of `total`, and the crates compiled by this build so far. */
  progress(done: number, total: number, compiled: number): void;
}

/** `frozen`: up, but frozen for idleness (no CPU, memory kept); the next request thaws it. */
export type RuntimeState = 'running' | 'frozen' | 'starting' | 'stopping' | 'stopped' | 'failed' | 'unknown';

export interface RuntimeStatus {
  state: RuntimeState;
  /** Backend-specific detail, e.g. the unit's ActiveState/SubState or a child's pid. */
  detail?: string;
  pid?: number;
  /** How the runner last ended when nobody asked it to (a crash, an out-of-memory kill). */
  lastExit?: LastExit;
  /** Set while the backend refuses to start the app after failed starts (it retries by itself). */
  backoff?: StartBackoff;
}

/** Why a runner last ended on its own, for `rustless ls` and the TUI. */
export interface LastExit {
  /**
   * `oom-kill`: the kernel killed it at its memory limit; `signal`: killed by a signal (an
   * abort, say); `exit-code`: it exited non-zero; `start-failed`: it never became ready.
   */
  reason: 'oom-kill' | 'signal' | 'exit-code' | 'start-failed';
  /** One line for people: `out of memory: killed at its limit of 128M`. */
  message: string;
  /** ISO time it ended. */
  at: string;
  /** The memory limit it ran under (as in rustless.toml), set for `oom-kill`. */
  memoryLimit?: string;
  exitStatus?: number;
  signal?: string;
}

export interface FrozenRunner {
  /** What the frozen runner holds (its cgroup's memory, page cache included), for the budget. */
  memoryBytes: number;
}

export interface StartBackoff {
  /** Failed starts in a row. */
  failures: number;
  /** ISO time of the next start the backend will try; requests before it get 503 at once. */
  retryAt: string;
  message: string;
}

/** How an app's runner ended, as far as the backend can tell. */
export interface RunnerExit {
  /** Says why, for errors and logs: `it was killed by SIGABRT`, `it exited with code 1`. */
  reason: string;
  /** True when the kernel's out-of-memory killer ended it. */
  oomKilled?: boolean;
  /** The memory limit that was in force, when the backend knows it (`128M`). */
  memoryLimit?: string;
}

export interface LogOptions {
  /** How many past lines to return first. */
  lines?: number;
  /** Keep the stream open and yield new lines as they come. */
  follow?: boolean;
  signal?: AbortSignal;
}

export interface ActivateOptions {
  /**
   * The gateway believes the runner is not up (never started, stopped for idleness, or died):
   * the backend may start it now and report a failed start, instead of leaving it to the first
   * connection.
   */
  coldStart?: boolean;
}

export interface Activation {
  /** The unix socket to send the app's requests to. */
  socketPath: string;
  /**
   * Settles when the start this call began or joined is over (at once when none was needed).
   * A backend whose socket queues connections (systemd's) may return before: requests sent
   * meanwhile wait for the runner, and come back unsent if the start fails.
   */
  started: Promise<void>;
}

/** `Activation.started` when nothing had to start. */
export const STARTED: Promise<void> = Promise.resolve();

/** Whether the memory limits a backend sets (apps' `container.memory`, builds') really hold. */
export interface MemoryLimits {
  enforced: boolean;
  /** Why not, when not enforced. */
  reason?: string;
  /** What makes them hold, when something can. */
  fix?: string;
  /** The builds' own limit, when they have one (`2G`). */
  build?: string;
}

/** An app's serving build, as the registry records it, for `Backend.recover`. */
export interface LiveBuild {
  app: string;
  buildId: number;
  artifact: BuildArtifact;
}

export interface RecoverOptions {
  /** The previous gateway did not stop cleanly (a power cut, a crash, a kill). */
  unclean: boolean;
}

export interface Backend {
  readonly kind: 'local' | 'systemd';
  /** Read once at start: only a reboot changes it. */
  readonly memoryLimits: MemoryLimits;
  /** Compiles a prepared runner crate. Rejects with RUSTLESS_BUILD_FAILED and the compiler's output. */
  build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact>;
  /** The toolchain its builds run, as its build user can run it. */
  toolchain(): Promise<Toolchain>;
  /** Makes `artifact` the version of `app` that serves from now on, without losing requests. */
  install(app: string, manifest: AppManifest, artifact: BuildArtifact): Promise<void>;
  /**
   * Makes sure `app` accepts connections (started, or started on connect by socket activation)
   * and returns the unix socket path to send its requests to.
   */
  activate(app: string, options?: ActivateOptions): Promise<Activation>;
  /** Stops the app's runner (thawing it first if frozen); the next `activate` starts it again. */
  stop(app: string): Promise<void>;
  /**
   * The warm tier, optional: freezes the idle app's runner (no CPU, its memory kept), called
   * with nothing in flight. Resolves with the memory it keeps, or undefined when there is no
   * runner to freeze or no freezer on this host (then the gateway stops it instead).
   */
  freeze?(app: string): Promise<FrozenRunner | undefined>;
  /**
   * Thaws a runner `freeze` froze. Synchronous and cheap (a file write): it runs on the request
   * path. False when the runner is gone (it stopped while frozen): start it again.
   */
  thaw?(app: string): boolean;
  /**
   * The app's secrets changed (src/secrets): called with nothing in flight, after which the
   * next start of the runner sees the new set.
   */
  secretsChanged(app: string): Promise<void>;
  status(app: string): Promise<RuntimeStatus>;
  /**
   * Asked after a connection to the app's runner broke mid-request: has a runner of `app`
   * ended since `since` (a `Date.now()` value)? Waits briefly for an exit still in progress
   * to be seen. Resolves with how it ended, or undefined when it is still running (so the
   * failure was that one connection's). Optional: without it the gateway assumes the runner
   * died and cannot say why. The systemd backend reads it from the journal (an out-of-memory
   * kill and the limit it hit).
   */
  runnerExit?(app: string, since: number): Promise<RunnerExit | undefined>;
  logs(app: string, options?: LogOptions): AsyncIterable<string>;
  /**
   * Optional: called once as the gateway starts, before the live builds are installed again.
   * Makes every live build runnable after whatever stopped the last gateway (a power cut can
   * damage Podman's storage or lose an image), and removes what an interrupted `rm` left.
   * Resolves with what it did, a few words each; empty when nothing needed doing.
   */
  recover?(live: readonly LiveBuild[], options: RecoverOptions): Promise<string[]>;
  /** Removes everything the backend holds for the app: process, units, images, sockets. */
  remove(app: string): Promise<void>;
  close(): Promise<void>;
}
