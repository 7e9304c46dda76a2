/**
 * The systemd backend: each function app is a Quadlet container (`rustless-fn-<app>.service`)
 * behind a socket unit systemd holds (`rustless-fn-<app>.socket`). The gateway starts the
 * container for a cold start (and backs off when it cannot start), systemd on a connection
 * otherwise; the gateway stops it when idle; the socket keeps listening, so a request that
 * arrives meanwhile waits in its backlog instead of failing.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppManifest } from '../../manifest/manifest.js';
import { RustlessError } from '../../errors.js';
import { STARTED, type Activation, type ActivateOptions, type Backend, type BuildArtifact, type BuildJob, type BuildOutput, type FrozenRunner, type LastExit, type LiveBuild, type LogOptions, type MemoryLimits, type RecoverOptions, type RunnerExit, type RuntimeState, type RuntimeStatus, type StartBackoff } from '../backend.js';
import { SecretStore } from '../../secrets/secret-store.js';
import { secretsDir } from '../app-dirs.js';
import { writeFileIfChanged } from '../../storage/durable-file.js';
import { isNoSpace } from '../../storage/no-space.js';
import { findFreezer, freezeUnit, parseRecord, recordText, thaw, type FreezerChoice, type FreezerHierarchy, type FrozenCgroups } from './cgroup-freezer.js';
import { removeAppConfig, renderAppConfig, syncPodmanSecrets } from './app-config.js';
import { repairImages } from './image-repair.js';
import { listImages, removeImages } from './podman.js';
import { resolveToolchain, type Toolchain } from '../../cargo/toolchain.js';
import { DEFAULT_BUILD_LIMITS, removeAppCache, type BuildLimits } from './sandboxed-build.js';
import { buildInChild } from '../build-in-child.js';
import type { ImageBuildOptions } from './image-build.js';
import { MEMORY_FIX, readMemoryController, type MemoryControllerPaths } from './memory-controller.js';
import { readRunnerExit } from './runner-exit.js';
import { daemonReload, journal, systemctl, unitProperties, unitState } from './systemctl.js';
import { QUADLET_DIR, renderContainer, renderSocket, UNIT_DIR, unitNames, type UnitNames } from './units.js';
import { makeDirectory } from '../../storage/make-directory.js';
import { runCommand } from '../../process/run-command.js';

/** The entry of the child process each build runs in (`.ts` beside this file when run from source). */
const BUILD_PROCESS = new URL(`./build-process${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export interface SystemdBackendOptions {
  /** `/var/lib/rustless`: the registry, builds. */
  stateDir: string;
  /** `/run/rustless`: the apps' sockets live in `<runtimeDir>/fn/`. */
  runtimeDir: string;
  quadletDir?: string;
  unitDir?: string;
  buildLimits?: Partial<BuildLimits>;
  /** Runners log one line per request (`rustless gateway --access-log`); off by default. */
  accessLog?: boolean;
  /** Which cgroup freezer the warm tier uses (`rustless gateway --freezer`); `off`: none, idle apps are stopped. */
  freezer?: FreezerChoice | 'off';
  /** Where to read whether the memory controller is on (the host's cgroup mount by default). */
  memoryController?: MemoryControllerPaths;
}

export class SystemdBackend implements Backend {
  readonly kind = 'systemd' as const;
  readonly memoryLimits: MemoryLimits;
  readonly #stateDir: string;
  readonly #runtimeDir: string;
  readonly #dirs: { quadletDir: string; unitDir: string };
  readonly #limits: BuildLimits;
  readonly #accessLog: boolean;
  readonly #secrets: SecretStore;
  /** What each app was last installed with, to render its unit again when its secrets change. */
  readonly #installed = new Map<string, { manifest: AppManifest; artifact: BuildArtifact }>();
  /** Apps whose socket unit this process has seen active: activate() skips systemctl for them. */
  readonly #listening = new Set<string>();
  /** One start at a time per app: a burst of cold requests shares it. */
  readonly #starting = new Map<string, Promise<void>>();
  /** Apps whose last starts failed: no systemctl call until `until`. */
  readonly #backoff = new Map<string, { failures: number; until: number; message: string }>();
  /** Each app's container memory limit, as in its rustless.toml, for the out-of-memory message. */
  readonly #memory = new Map<string, string>();
  /** Apps this process stopped: their next start needs no look at how they ended. */
  readonly #stopped = new Set<string>();
  /** The last unrequested exit logged per app, so each is logged once. */
  readonly #exits = new Map<string, LastExit>();
  /** The host's cgroup freezer, if the warm tier has one. */
  readonly #freezer: FreezerHierarchy | undefined;
  /** Apps this process froze, and the files that thaw them (also in `<runtimeDir>/frozen/`). */
  readonly #frozen = new Map<string, FrozenCgroups>();

  constructor({ stateDir, runtimeDir, quadletDir = QUADLET_DIR, unitDir = UNIT_DIR, buildLimits = {}, accessLog = false, freezer = 'auto', memoryController }: SystemdBackendOptions) {
    this.#accessLog = accessLog;
    this.#freezer = freezer === 'off' ? undefined : findFreezer(freezer);
    this.#stateDir = stateDir;
    this.#runtimeDir = runtimeDir;
    this.#dirs = { quadletDir, unitDir };
    this.#limits = { ...DEFAULT_BUILD_LIMITS, ...buildLimits };
    const memory = readMemoryController(memoryController);
    this.memoryLimits = memory.enforced ? { enforced: true, build: this.#limits.memoryMax } : { enforced: false, reason: memory.detail, fix: MEMORY_FIX, build: this.#limits.memoryMax };
    this.#secrets = new SecretStore(secretsDir(stateDir));
  }

  /** The gateway's toolchain: bound read-only into each build's sandbox (sandboxed-build.ts). */
  toolchain(): Promise<Toolchain> {
    return resolveToolchain();
  }

  /** Runs in a child process: the build's code never runs in the long-lived gateway (build-in-child.ts). */
  build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    const options: ImageBuildOptions = { stateDir: this.#stateDir, limits: this.#limits, memoryEnforced: this.memoryLimits.enforced };
    return buildInChild(BUILD_PROCESS, job, output, options);
  }

  async install(app: string, manifest: AppManifest, artifact: BuildArtifact): Promise<void> {
    if (!artifact.image) throw new RustlessError('RUSTLESS_BACKEND_FAILED', `build of ${app} has no image (built by another backend?): deploy it again`);
    const names = this.#names(app);
    // A runner frozen by a gateway that died would never answer again.
    this.#thawIfFrozen(app);
    this.#memory.set(app, manifest.container.memory);
    // A new build is a new chance: its first request starts it at once.
    this.#backoff.delete(app);
    const buildId = /:([^:]+)$/.exec(artifact.image)?.[1] ?? '?';
    this.#installed.set(app, { manifest, artifact });
    // Podman keeps its secrets across restarts; they are synced here only for an app that has
    // some (a store restored from a backup, say), so a gateway start does not ask Podman per app.
    const secrets = await this.#secrets.names(app);
    if (secrets.length > 0) {
      try {
        await syncPodmanSecrets(app, this.#secrets, secretsDir(this.#stateDir));
      } catch (error) {
        // A gateway starting on a full disk must still serve: Podman keeps the copies it has.
        if (!isNoSpace(error)) throw error;
        console.error(`rustless: Podman's copies of the secrets of ${app} were not refreshed (no space left on device); the runner gets the ones Podman holds`);
      }
    }
    const appConfig = await renderAppConfig(this.#stateDir, app, manifest, secrets);
    const container = await renderContainer({ app, buildId, image: artifact.image, container: manifest.container, appConfig, accessLog: this.#accessLog, frozenRecord: this.#frozenFile(app) });
    const socket = await renderSocket({ app, socketPath: this.#socketPath(app) });
    const containerChanged = await writeFileIfChanged(names.containerFile, container, { mode: 0o644 });
    const socketChanged = await writeFileIfChanged(names.socketFile, socket, { mode: 0o644 });
    if (containerChanged || socketChanged) await daemonReload();

    if (socketChanged && (await unitState(names.socket)).activeState === 'active') await systemctl('restart', names.socket);
    else await systemctl('start', names.socket);
    this.#listening.add(app);
    // The gateway holds requests back during install; the socket queues any that reach it.
    if (containerChanged) {
      await systemctl('try-restart', names.service);
      await this.#pruneImages(app, artifact.image);
    }
  }

  /**
   * Returns the app's socket. For a cold start on a socket that listens, the request goes at
   * once: its connection starts the service (socket activation) and waits in the backlog until
   * the runner takes it, with no `systemctl` process on its path (docs/systemd.md, "A colder
   * cold start"). The gateway still runs `systemctl start` beside it, which joins that start,
   * so that a runner that cannot start is a 503 with its reason rather than a request queued
   * while systemd starts it again and again: a start that fails closes the socket (`#start`),
   * so what waits there comes back unsent and is retried into the 503. After failed starts it
   * waits (1 s, doubling up to 30 s) before the next systemctl call, with the socket opened
   * again first; requests meanwhile get the same 503 straight away.
   */
  async activate(app: string, { coldStart = false }: ActivateOptions = {}): Promise<Activation> {
    const socketPath = this.#socketPath(app);
    const listening = this.#listening.has(app) && existsSync(socketPath);
    if (listening && !coldStart) return { socketPath, started: STARTED };
    const backoff = this.#backoff.get(app);
    if (backoff && Date.now() < backoff.until) throw new RustlessError('RUSTLESS_UNAVAILABLE', backoff.message, { details: { retryAt: new Date(backoff.until).toISOString() } });
    let starting = this.#starting.get(app);
    if (!starting) {
      // On a listening socket the request's connection, made in this turn, is what starts the
      // service; systemctl (forking it costs the gateway a few ms) follows on the next turn.
      const turn = listening ? new Promise<void>((resolve) => setImmediate(resolve)) : STARTED;
      starting = turn.then(() => this.#start(app, listening)).finally(() => this.#starting.delete(app));
      // Its failure reaches whoever awaits it; a request sent ahead hears of it as a closed socket.
      starting.catch(() => undefined);
      this.#starting.set(app, starting);
    }
    // Only a socket this gateway started and saw listen; one it must start first, after a failure, waits.
    if (!listening) await starting;
    return { socketPath, started: starting };
  }

  async #start(app: string, listening: boolean): Promise<void> {
    const names = this.#names(app);
    if (!existsSync(names.containerFile)) throw new RustlessError('RUSTLESS_UNAVAILABLE', `app ${app} has no installed build to run`);
    try {
      if (!listening) {
        // A socket that failed (its trigger limit, say) starts only once reset.
        await systemctl('reset-failed', names.socket).catch(() => undefined);
        await systemctl('start', names.socket);
        this.#listening.add(app);
      }
      const stoppedByUs = this.#stopped.delete(app);
      await systemctl('start', names.service);
      this.#backoff.delete(app);
      // The runner died rather than being stopped: log how, once systemd has logged it too
      // (the gateway often hears of a crash first, when its connection drops).
      if (!stoppedByUs) setTimeout(() => void this.lastExit(app).catch(() => undefined), EXIT_SETTLE_MS).unref();
    } catch (error) {
      const exit = await this.lastExit(app).catch(() => undefined);
      const failures = (this.#backoff.get(app)?.failures ?? 0) + 1;
      const delayMs = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1));
      const why = exit ? exit.message : (error as Error).message.split('\n')[0];
      const message = `app ${app} failed to start (${why}); rust-less tries again in ${delayMs / 1000} s${failures > 1 ? ` (${failures} failed starts in a row)` : ''}: \`rustless logs ${app}\` has its log`;
      this.#backoff.set(app, { failures, until: Date.now() + delayMs, message });
      console.error(`rustless: ${message}`);
      // Requests sent ahead wait in the socket's backlog, and systemd would start the service
      // again for them as fast as it fails. Closing the socket drops them (the gateway retries
      // them, unsent, into the 503 above); the next start after the backoff opens it again.
      this.#listening.delete(app);
      await systemctl('stop', names.socket).catch(() => undefined);
      throw new RustlessError('RUSTLESS_UNAVAILABLE', message, { cause: error, details: { retryAt: new Date(Date.now() + delayMs).toISOString() } });
    }
  }

  /**
   * Whether the app's runner ended since `since` (the gateway asks when a connection to it broke
   * mid-request), and how: an out-of-memory kill with the limit it hit. systemd logs the exit a
   * few hundred ms after the connection breaks (conmon reaps the runner, then ExecStopPost=
   * runs), so this looks for up to 1.5 s; undefined means the runner still runs.
   */
  async runnerExit(app: string, since: number): Promise<RunnerExit | undefined> {
    const deadline = Date.now() + RUNNER_EXIT_WAIT_MS;
    for (;;) {
      const exit = await this.lastExit(app).catch(() => undefined);
      if (exit && Date.parse(exit.at) >= since - CLOCK_SLACK_MS) return runnerExitOf(exit, this.#memory.get(app));
      if (Date.now() >= deadline) return undefined;
      await sleep(100);
    }
  }

  /** How the app's runner last ended on its own (a crash, an out-of-memory kill), logged once per exit. */
  async lastExit(app: string): Promise<LastExit | undefined> {
    const names = this.#names(app);
    const exit = await readRunnerExit(names.service, this.#memory.get(app));
    if (!exit) return undefined;
    const known = this.#exits.get(app);
    if (known?.at !== exit.at || known.reason !== exit.reason) {
      this.#exits.set(app, exit);
      // A new gateway finds old exits in the journal: only a fresh one is news.
      if (Date.now() - Date.parse(exit.at) < FRESH_EXIT_MS) await logExit(app, names.service, exit);
    }
    return exit;
  }

  async stop(app: string): Promise<void> {
    const names = this.#names(app);
    // A frozen runner cannot act on SIGTERM (on cgroup v1 not even on SIGKILL): thaw it first.
    this.#thawIfFrozen(app);
    // Only the service: the socket keeps listening and starts it again on the next connection.
    await systemctl('stop', names.service);
    this.#stopped.add(app);
  }

  /**
   * Freezes the app's runner with the kernel's cgroup freezer (`cgroup-freezer.ts`), where the
   * next request thaws it with one file write. The unit stays active: systemd, the socket and
   * the gateway's frame connection to the runner are untouched.
   */
  async freeze(app: string): Promise<FrozenRunner | undefined> {
    if (this.#freezer === undefined) return undefined;
    const names = this.#names(app);
    const props = await unitProperties(names.service, ['ActiveState', 'MainPID', 'ControlGroup', 'MemoryCurrent']);
    const controlGroup = props.get('ControlGroup');
    if (props.get('ActiveState') !== 'active' || !controlGroup) return undefined;
    const frozen = await freezeUnit(this.#freezer, controlGroup, Number(props.get('MainPID') ?? 0));
    if (frozen === undefined) return undefined;
    this.#frozen.set(app, frozen);
    await makeDirectory(dirname(this.#frozenFile(app)));
    await writeFile(this.#frozenFile(app), recordText(frozen));
    const memory = Number(props.get('MemoryCurrent'));
    // `[not set]` without memory accounting; 2^64-1 for "unknown".
    return { memoryBytes: Number.isSafeInteger(memory) ? memory : 0 };
  }

  thaw(app: string): boolean {
    const frozen = this.#frozen.get(app);
    if (frozen === undefined) return true;
    this.#frozen.delete(app);
    rmSync(this.#frozenFile(app), { force: true });
    return thaw(frozen);
  }

  /** Thaws the app if this or an earlier gateway froze it (off the request path). */
  #thawIfFrozen(app: string): void {
    if (this.#frozen.has(app)) {
      this.thaw(app);
      return;
    }
    const file = this.#frozenFile(app);
    if (!existsSync(file)) return;
    try {
      thaw(parseRecord(readFileSync(file, 'utf8')));
    } catch (error) {
      console.error(`rustless: thawing ${app}, frozen by an earlier gateway, failed: ${(error as Error).message}`);
    }
    rmSync(file, { force: true });
  }

  #frozenFile(app: string): string {
    return join(this.#runtimeDir, 'frozen', app);
  }

  async secretsChanged(app: string): Promise<void> {
    const installed = this.#installed.get(app);
    // Not installed yet: the first install delivers them.
    if (!installed) return;
    await syncPodmanSecrets(app, this.#secrets, secretsDir(this.#stateDir));
    // Rewrites the unit's Secret= lines.
    await this.install(app, installed.manifest, installed.artifact);
    await this.stop(app);
  }

  async status(app: string): Promise<RuntimeStatus> {
    const names = this.#names(app);
    const [service, socket] = await Promise.all([unitState(names.service), unitState(names.socket)]);
    const detail = `${service.activeState} (${service.subState}), socket ${socket.activeState === 'active' ? 'listening' : socket.activeState}`;
    const frozen = this.#frozen.has(app) && service.activeState === 'active';
    const status: RuntimeStatus = { state: frozen ? 'frozen' : runtimeState(service.activeState), detail: frozen ? `${detail}, frozen (${this.#frozen.get(app)!.kind} freezer)` : detail };
    if (service.mainPid > 0) status.pid = service.mainPid;
    const exit = await this.lastExit(app).catch(() => undefined);
    if (exit) status.lastExit = exit;
    // Failed until a start succeeds, also once the next try is due.
    const backoff = this.#backoff.get(app);
    if (backoff) status.backoff = startBackoff(backoff);
    return status;
  }

  logs(app: string, options: LogOptions = {}): AsyncIterable<string> {
    return journal(this.#names(app).service, options);
  }

  /** Podman's storage checked and every live image there (image-repair.ts); units of removed apps gone. */
  async recover(live: readonly LiveBuild[], options: RecoverOptions): Promise<string[]> {
    const done = await repairImages(live, options);
    const apps = new Set(live.map((build) => build.app));
    const units = await readdir(this.#dirs.quadletDir).catch(() => [] as string[]);
    for (const file of units) {
      const app = /^rustless-fn-([a-z][a-z0-9-]*)\.container$/.exec(file)?.[1];
      if (app === undefined || apps.has(app)) continue;
      await this.remove(app);
      done.push(`the units and images of ${app}, whose removal was cut short, removed`);
    }
    return done;
  }

  async remove(app: string): Promise<void> {
    const names = this.#names(app);
    this.#thawIfFrozen(app);
    this.#listening.delete(app);
    this.#backoff.delete(app);
    this.#exits.delete(app);
    this.#memory.delete(app);
    await systemctl('stop', names.socket, names.service).catch(() => undefined);
    const existed = existsSync(names.containerFile) || existsSync(names.socketFile);
    await rm(names.containerFile, { force: true });
    await rm(names.socketFile, { force: true });
    if (existed) await daemonReload();
    await systemctl('reset-failed', names.service, names.socket).catch(() => undefined);
    await removeImages(app);
    await removeAppCache(app);
    await removeAppConfig(this.#stateDir, app);
    this.#installed.delete(app);
    await rm(this.#socketPath(app), { force: true });
  }

  /**
   * Leaves the apps running, and thaws the frozen ones: they are systemd's units, not this
   * process's children, and a gateway restart must not cold-start every app. The next gateway
   * freezes or stops one once its next request has gone idle.
   */
  async close(): Promise<void> {
    // The next gateway would not know they are frozen.
    for (const app of [...this.#frozen.keys()]) this.#thawIfFrozen(app);
    this.#listening.clear();
  }

  /**
   * Drops the images of builds whose directory the builder has pruned (it keeps the last few
   * for rollback); the serving image always stays. Best effort: a leftover image costs disk only.
   */
  async #pruneImages(app: string, serving: string): Promise<void> {
    try {
      const stale = (await listImages(app)).filter((image) => {
        const buildId = /:(\d+)$/.exec(image)?.[1];
        return image !== serving && buildId !== undefined && !existsSync(join(this.#stateDir, 'builds', buildId));
      });
      await removeImages(app, stale);
    } catch (error) {
      console.error(`rustless: removing old images of ${app} failed: ${(error as Error).message}`);
    }
  }

  #names(app: string): UnitNames {
    return unitNames(app, this.#dirs);
  }

  #socketPath(app: string): string {
    return join(this.#runtimeDir, 'fn', `${app}.sock`);
  }
}

/** How long `runnerExit` looks for an exit systemd has not logged yet. */
const RUNNER_EXIT_WAIT_MS = 1_500;
/** The journal's timestamps and the gateway's clock are the same clock; this covers rounding. */
const CLOCK_SLACK_MS = 50;

/** The gateway's view of a last exit: a reason that reads after `the runner ... died: `. */
function runnerExitOf(exit: LastExit, memoryLimit: string | undefined): RunnerExit {
  const limit = exit.memoryLimit ?? memoryLimit;
  switch (exit.reason) {
    case 'oom-kill':
      return { reason: "it was killed by the kernel's out-of-memory killer", oomKilled: true, ...(limit ? { memoryLimit: limit } : {}) };
    case 'signal':
      return { reason: `it was ${exit.message}`, oomKilled: false };
    case 'exit-code':
      return { reason: `it ${exit.message}`, oomKilled: false };
    default:
      return { reason: `it ${exit.message}` };
  }
}

/** An exit older than this when first seen was logged by an earlier gateway. */
const FRESH_EXIT_MS = 60_000;
/** How long after a crash systemd has surely logged it (ExecStopPost=, podman rm, runs first). */
const EXIT_SETTLE_MS = 2_000;
/** The longest wait between two starts of an app that keeps failing. */
const MAX_BACKOFF_MS = 30_000;

function startBackoff({ failures, until, message }: { failures: number; until: number; message: string }): StartBackoff {
  return { failures, retryAt: new Date(until).toISOString(), message };
}

/**
 * Says how a runner ended in the app's own journal, where `rustless logs` shows it (a journal
 * entry from root about a unit, OBJECT_SYSTEMD_UNIT=, is part of `journalctl -u` of that
 * unit), and in the gateway's: `logger` runs in rustless.service.
 */
async function logExit(app: string, service: string, exit: LastExit): Promise<void> {
  const line = `rustless: the runner of ${app} ended: ${exit.message}`;
  const fields = [`MESSAGE=${line}`, 'PRIORITY=3', 'SYSLOG_IDENTIFIER=rustless', `OBJECT_SYSTEMD_UNIT=${service}`, `RUSTLESS_EXIT_REASON=${exit.reason}`].join('\n');
  await runCommand('logger', ['--journald'], { input: `${fields}\n` });
}

function runtimeState(activeState: string): RuntimeState {
  switch (activeState) {
    case 'active':
    case 'reloading':
    case 'refreshing':
      return 'running';
    case 'activating':
      return 'starting';
    case 'deactivating':
      return 'stopping';
    case 'inactive':
      return 'stopped';
    case 'failed':
      return 'failed';
    default:
      return 'unknown';
  }
}

