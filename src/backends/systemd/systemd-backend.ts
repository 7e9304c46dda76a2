/**
 * The systemd backend: each function app is a Quadlet container (`rustless-fn-<app>.service`)
 * behind a socket unit systemd holds (`rustless-fn-<app>.socket`). systemd starts the container
 * on the first connection; the gateway stops it when idle; the socket keeps listening, so a
 * request that arrives meanwhile waits in its backlog instead of failing.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AppManifest } from '../../manifest/manifest.js';
import { RustlessError } from '../../errors.js';
import type { Backend, BuildArtifact, BuildJob, BuildOutput, LogOptions, RuntimeState, RuntimeStatus } from '../backend.js';
import { buildScratchImage, imageName, listImages, removeImages } from './podman.js';
import { DEFAULT_BUILD_LIMITS, removeAppCache, sandboxedBuild, type BuildLimits } from './sandboxed-build.js';
import { daemonReload, journal, systemctl, unitState } from './systemctl.js';
import { QUADLET_DIR, renderContainer, renderSocket, UNIT_DIR, unitNames, type UnitNames } from './units.js';

export interface SystemdBackendOptions {
  /** `/var/lib/rustless`: the registry, builds. */
  stateDir: string;
  /** `/run/rustless`: the apps' sockets live in `<runtimeDir>/fn/`. */
  runtimeDir: string;
  quadletDir?: string;
  unitDir?: string;
  buildLimits?: Partial<BuildLimits>;
}

export class SystemdBackend implements Backend {
  readonly kind = 'systemd' as const;
  readonly #stateDir: string;
  readonly #runtimeDir: string;
  readonly #dirs: { quadletDir: string; unitDir: string };
  readonly #limits: BuildLimits;
  /** Apps whose socket unit this process has seen active: activate() skips systemctl for them. */
  readonly #listening = new Set<string>();

  constructor({ stateDir, runtimeDir, quadletDir = QUADLET_DIR, unitDir = UNIT_DIR, buildLimits = {} }: SystemdBackendOptions) {
    this.#stateDir = stateDir;
    this.#runtimeDir = runtimeDir;
    this.#dirs = { quadletDir, unitDir };
    this.#limits = { ...DEFAULT_BUILD_LIMITS, ...buildLimits };
  }

  async build(job: BuildJob, output: BuildOutput): Promise<BuildArtifact> {
    const binaryPath = await sandboxedBuild(job, output, { stateDir: this.#stateDir, limits: this.#limits, signal: job.signal });
    const image = imageName(job.app, job.buildId);
    output.line(`rustless: podman build ${image} (FROM scratch, the runner only)`);
    await buildScratchImage({ binaryPath, contextDir: join(job.buildDir, 'image'), image, app: job.app, buildId: job.buildId });
    return { binaryPath, image };
  }

  async install(app: string, manifest: AppManifest, artifact: BuildArtifact): Promise<void> {
    if (!artifact.image) throw new RustlessError('RUSTLESS_BACKEND_FAILED', `build of ${app} has no image (built by another backend?): deploy it again`);
    const names = this.#names(app);
    const buildId = /:([^:]+)$/.exec(artifact.image)?.[1] ?? '?';
    const container = await renderContainer({ app, buildId, image: artifact.image, container: manifest.container });
    const socket = await renderSocket({ app, socketPath: this.#socketPath(app) });
    const containerChanged = await writeIfChanged(names.containerFile, container);
    const socketChanged = await writeIfChanged(names.socketFile, socket);
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

  async activate(app: string): Promise<string> {
    const socketPath = this.#socketPath(app);
    if (this.#listening.has(app) && existsSync(socketPath)) return socketPath;
    const names = this.#names(app);
    if (!existsSync(names.containerFile)) throw new RustlessError('RUSTLESS_UNAVAILABLE', `app ${app} has no installed build to run`);
    await systemctl('start', names.socket);
    this.#listening.add(app);
    return socketPath;
  }

  async stop(app: string): Promise<void> {
    const names = this.#names(app);
    // Only the service: the socket keeps listening and starts it again on the next connection.
    await systemctl('stop', names.service);
  }

  async status(app: string): Promise<RuntimeStatus> {
    const names = this.#names(app);
    const [service, socket] = await Promise.all([unitState(names.service), unitState(names.socket)]);
    const detail = `${service.activeState} (${service.subState}), socket ${socket.activeState === 'active' ? 'listening' : socket.activeState}`;
    const status: RuntimeStatus = { state: runtimeState(service.activeState), detail };
    if (service.mainPid > 0) status.pid = service.mainPid;
    return status;
  }

  logs(app: string, options: LogOptions = {}): AsyncIterable<string> {
    return journal(this.#names(app).service, options);
  }

  async remove(app: string): Promise<void> {
    const names = this.#names(app);
    this.#listening.delete(app);
    await systemctl('stop', names.socket, names.service).catch(() => undefined);
    const existed = existsSync(names.containerFile) || existsSync(names.socketFile);
    await rm(names.containerFile, { force: true });
    await rm(names.socketFile, { force: true });
    if (existed) await daemonReload();
    await systemctl('reset-failed', names.service, names.socket).catch(() => undefined);
    await removeImages(app);
    await removeAppCache(app);
    await rm(this.#socketPath(app), { force: true });
  }

  /**
   * Leaves the apps running: they are systemd's units, not this process's children, and a
   * gateway restart must not cold-start every app. The next gateway stops one once its next
   * request has gone idle.
   */
  async close(): Promise<void> {
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

/** Writes `text` to `file` unless it already holds exactly that; true when it wrote. */
async function writeIfChanged(file: string, text: string): Promise<boolean> {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
  return true;
}
