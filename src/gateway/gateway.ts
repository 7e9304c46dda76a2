/**
 * The gateway: one process that owns the registry, the routing table, the builder and a
 * backend, and serves the public HTTP listener and the admin API. Everything an admin client
 * can do is a method here; src/admin maps them to HTTP.
 */
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir, secretsDir } from '../backends/app-dirs.js';
import type { Backend, BuildArtifact, MemoryLimits, RuntimeStatus } from '../backends/backend.js';
import { RustlessError } from '../errors.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { SecretStore } from '../secrets/secret-store.js';
import { Builder } from '../builder/builder.js';
import type { BuildEvent } from '../builder/events.js';
import type { AppManifest } from '../manifest/manifest.js';
import { Registry, type BuildRecord } from '../registry/registry.js';
import { checkRegistryFile } from '../registry/registry-check.js';
import { isNoSpace, naming } from '../storage/no-space.js';
import { RouteTable } from '../router/route-table.js';
import { VERSION } from '../version.js';
import type { AppDetail, AppMemory, AppStatus, AppSummary, BuildInfo, DataChoice, GatewayInfo, RouteInfo, SecretInfo } from '../api/types.js';
import { AppLifecycle, type LifecycleOptions } from './app-lifecycle.js';
import { memoryPressureReader } from './memory-pressure.js';
import { drainable, type Drainer } from './drain.js';
import { describeTarget, listen, type ListenTarget } from './listeners.js';
import { Notifier } from './notify.js';
import { ClientAddresses } from './client-address.js';
import { FreshStart } from './fresh-start.js';
import { markRunning, markStopped, recoveryLine } from './start-recovery.js';
import { createPublicHandler } from './public-handler.js';
import { RunnerClients } from './upstream/runner-clients.js';
import { makeDirectory } from '../storage/make-directory.js';
import { ownMemoryBytes } from '../process/own-memory.js';

export interface GatewayOptions {
  backend: Backend;
  stateDir: string;
  /** The runner/ workspace whose crates builds link against. */
  runnerDir: string;
  defaultIdleTimeoutS: number;
  /** The warm tier: how long an idle app stays frozen before it is stopped (0: stop idle apps at once). */
  frozenTimeoutS?: number;
  /** The most memory frozen apps may hold together, in bytes; past it the longest-frozen are stopped. */
  frozenBudgetBytes?: number;
  /** The machine's memory pressure (PSI `some avg10`, percent) at which frozen apps are stopped; 0 or unset: never. */
  frozenPressurePercent?: number;
  /** Record Prometheus metrics (default true); off only to measure what recording costs. */
  metrics?: boolean;
  /** Proxies whose X-Forwarded-For names the client (IPs, `unix`): Caddy in front (`--trust-proxy`). */
  trustedProxies?: readonly string[];
}

/**
 * How long a stopping gateway waits for public requests in flight (a slow function) and for
 * the admin API's (a build upload; a `logs --follow` stream is cut at the end). systemd's
 * TimeoutStopSec=30 must stay above both.
 */
const PUBLIC_DRAIN_MS = 20_000;
const ADMIN_DRAIN_MS = 3_000;

export class Gateway {
  readonly registry: Registry;
  readonly backend: Backend;
  readonly builder: Builder;
  readonly lifecycle: AppLifecycle;
  readonly secrets: SecretStore;
  /** Undefined when the gateway runs with `--no-metrics`. */
  readonly metrics: GatewayMetrics | undefined;
  readonly #options: GatewayOptions;
  readonly #clients = new RunnerClients();
  readonly #notifier = new Notifier();
  readonly #started = Date.now();
  readonly #drainers: Array<{ drainer: Drainer; deadlineMs: number }> = [];
  #routes = new RouteTable();
  #requests = 0;
  #publicUrl: string | null = null;
  #statusTimer: NodeJS.Timeout | undefined;
  #freshStart: FreshStart | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: GatewayOptions, registry: Registry) {
    this.#options = options;
    this.registry = registry;
    this.backend = options.backend;
    this.secrets = new SecretStore(secretsDir(options.stateDir));
    this.metrics =
      options.metrics === false
        ? undefined
        : new GatewayMetrics({
            apps: () => this.registry.listApps().map((app) => app.name),
            inflight: (app) => this.lifecycle.inflight(app),
            runnerUp: (app) => this.lifecycle.isActive(app),
            runnerFrozen: (app) => this.lifecycle.isFrozen(app),
          });
    this.lifecycle = new AppLifecycle({
      backend: this.backend,
      defaultIdleTimeoutMs: options.defaultIdleTimeoutS * 1000,
      frozenTimeoutMs: (options.frozenTimeoutS ?? 0) * 1000,
      ...(options.frozenBudgetBytes === undefined ? {} : { frozenBudgetBytes: options.frozenBudgetBytes }),
      // Only a backend with a warm tier has frozen apps to stop.
      ...(this.backend.freeze && options.frozenTimeoutS ? frozenPressure(options.frozenPressurePercent) : {}),
      onStopped: (app) => this.#clients.drop(app),
      onThaw: (app) => this.metrics?.thaw(app),
      onColdStart: (app, seconds) => this.metrics?.coldStart(app, seconds),
    });
    this.builder = new Builder({
      registry,
      backend: this.backend,
      stateDir: options.stateDir,
      runnerDir: options.runnerDir,
      hooks: {
        checkRoutes: (manifest) => this.#checkRoutes(manifest),
        activate: (build, artifact) => this.#activate(build, artifact),
        finished: (app, outcome, seconds) => {
          this.metrics?.build(app, outcome, seconds);
          this.#freshStart?.buildFinished();
        },
      },
    });
  }

  /**
   * Opens the registry and puts every app's serving build back in place. After an unclean stop
   * (a power cut) it checks and repairs first, and logs one line saying what it did
   * (start-recovery.ts): the registry's integrity, builds cut short, the backend's storage.
   */
  static async open(options: GatewayOptions): Promise<Gateway> {
    await makeDirectory(options.stateDir);
    const file = join(options.stateDir, 'rustless.db');
    const done: string[] = [];
    const repaired = checkRegistryFile(file);
    if (repaired) done.push(repaired);
    const registry = new Registry(file);
    const unclean = await markRunning(options.stateDir);
    try {
      const cut = registry.failUnfinishedBuilds('the gateway stopped during this build');
      if (cut.length > 0) done.push(`build${cut.length > 1 ? 's' : ''} ${cut.join(', ')} cut short, marked failed (the previous build serves)`);
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      console.error(`rustless: unfinished builds not marked failed yet (no space left on device in ${options.stateDir}); the next start does it`);
    }
    const gateway = new Gateway(options, registry);
    const live = registry.listApps().flatMap((app) => {
      if (app.currentBuild === null) return [];
      const build = registry.requireBuild(app.currentBuild);
      return [{ app: app.name, buildId: build.id, artifact: build.artifact as BuildArtifact, manifest: build.manifest }];
    });
    if (gateway.backend.recover) done.push(...(await gateway.backend.recover(live, { unclean })));
    done.push(...(await gateway.builder.removeOrphans()));
    done.push(...(await gateway.secrets.removeOrphans(new Set(registry.listApps().map((app) => app.name)))));
    for (const { app, manifest, artifact } of live) {
      try {
        await gateway.backend.install(app, manifest, artifact);
      } catch (error) {
        // One app that cannot be put back must not keep the others offline.
        console.error(`rustless: app ${app} could not be installed again: ${(error as Error).message}`);
        done.push(`app ${app} NOT installed (${(error as Error).message.split('\n')[0]})`);
      }
      gateway.lifecycle.setIdleTimeout(app, secondsToMs(manifest.idleTimeoutS));
    }
    const line = recoveryLine(unclean, done, live.length);
    if (line) console.error(line);
    gateway.#reloadRoutes((error) => console.error(`rustless: ${error.message} (both were deployed before this was refused; they keep serving, redeploy one to settle it)`));
    return gateway;
  }

  /**
   * Starts serving public HTTP on `publicTarget` and the admin API on each admin target.
   * Returns the admin servers, in order, so the caller can read the ports it was given.
   */
  async serve(
    publicTarget: ListenTarget,
    admin: Array<{ target: ListenTarget; handler: Parameters<typeof createServer>[1]; mode?: number }>,
  ): Promise<Server[]> {
    const handler = createPublicHandler({
      routes: () => this.#routes,
      lifecycle: this.lifecycle,
      clients: this.#clients,
      onRequest: () => this.#requests++,
      metrics: this.metrics,
      ...(this.#options.trustedProxies?.length ? { clientAddresses: new ClientAddresses(this.#options.trustedProxies) } : {}),
    });
    const server = createServer({ keepAliveTimeout: 5_000 }, handler);
    server.on('clientError', (error, socket) => {
      if (!socket.writable) return socket.destroy();
      const body = JSON.stringify({ error: { code: 'RUSTLESS_BAD_REQUEST', message: `malformed HTTP request: ${error.message}` } });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    const drainer = drainable(server);
    await listen(server, publicTarget);
    this.#drainers.push({ drainer, deadlineMs: PUBLIC_DRAIN_MS });
    const address = server.address();
    if (address && typeof address === 'object') {
      const host = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
      this.#publicUrl = describeTarget({ host, port: address.port });
    }
    const adminServers: Server[] = [];
    for (const { target, handler: adminHandler, mode } of admin) {
      const adminServer = createServer(adminHandler);
      const adminDrainer = drainable(adminServer);
      await listen(adminServer, target, mode);
      this.#drainers.push({ drainer: adminDrainer, deadlineMs: ADMIN_DRAIN_MS });
      adminServers.push(adminServer);
    }
    this.#notifier.ready();
    this.#updateStatus();
    this.#statusTimer = setInterval(() => this.#updateStatus(), 5_000);
    this.#statusTimer.unref();
    return adminServers;
  }

  /**
   * Restarts the gateway through `restart` once quiet for `quietMs` after builds (fresh-start.ts
   * says why). Only for a gateway whose sockets systemd holds: any other would drop connections.
   */
  restartAfterBuilds(quietMs: number, restart: () => Promise<void>): void {
    this.#freshStart = new FreshStart({
      quietMs,
      restart,
      busy: () => this.builder.busy || this.lifecycle.holdsAnyApp() || this.#drainers.some(({ drainer }) => drainer.openRequests() > 0),
      lastRequestAt: () => Math.max(0, ...this.#drainers.map(({ drainer }) => drainer.lastRequestAt())),
      memory: () => ({ rss: process.memoryUsage.rss(), own: ownMemoryBytes() }),
    });
  }

  info(): GatewayInfo {
    return {
      version: VERSION,
      backend: this.backend.kind,
      publicUrl: this.#publicUrl,
      apps: this.registry.listApps().length,
      uptimeS: Math.round((Date.now() - this.#started) / 1000),
      memoryLimits: this.backend.memoryLimits,
    };
  }

  async listApps(): Promise<AppSummary[]> {
    return Promise.all(this.registry.listApps().map((app) => this.#summary(app.name)));
  }

  async describeApp(name: string): Promise<AppDetail> {
    const summary = await this.#summary(name);
    const builds = this.registry.listBuilds(name).map(buildInfo);
    const current = builds.find((b) => b.id === summary.currentBuild);
    const manifest = current ? this.registry.requireBuild(current.id).manifest : undefined;
    const data = dataDir(this.#options.stateDir, name);
    return {
      ...summary,
      builds,
      idleTimeoutS: manifest?.idleTimeoutS ?? this.#options.defaultIdleTimeoutS,
      secrets: await this.listSecrets(name),
      env: Object.keys(manifest?.env ?? {}),
      dataDir: manifest?.storage.data || existsSync(data) ? data : null,
    };
  }

  /** The secrets the serving build declares and those that are set, by name only. */
  async listSecrets(app: string): Promise<SecretInfo[]> {
    this.registry.requireApp(app);
    const current = this.registry.requireApp(app).currentBuild;
    const declared = current === null ? [] : this.registry.requireBuild(current).manifest.secrets;
    const set = await this.secrets.names(app);
    return [...new Set([...declared, ...set])].sort().map((name) => ({ name, set: set.includes(name), declared: declared.includes(name) }));
  }

  /** Sets a secret; the app's runner restarts (requests in flight finish, new ones wait) to see it. */
  async setSecret(app: string, name: string, value: Buffer): Promise<void> {
    this.registry.requireApp(app);
    await this.secrets.set(app, name, value);
    await this.lifecycle.exclusive(app, async () => {
      await this.backend.secretsChanged(app);
      this.#clients.drop(app);
      this.lifecycle.markInactive(app);
    });
  }

  async removeSecret(app: string, name: string): Promise<void> {
    this.registry.requireApp(app);
    if (!(await this.secrets.remove(app, name))) throw new RustlessError('RUSTLESS_SECRET_NOT_FOUND', `app ${app} has no secret ${name}`);
    await this.lifecycle.exclusive(app, async () => {
      await this.backend.secretsChanged(app);
      this.#clients.drop(app);
      this.lifecycle.markInactive(app);
    });
  }

  async submitBuild(archive: Buffer): Promise<BuildInfo> {
    return buildInfo(await this.builder.submit(archive));
  }

  getBuild(id: number): BuildInfo {
    return buildInfo(this.registry.requireBuild(id));
  }

  watchBuild(id: number): AsyncIterable<BuildEvent> {
    this.registry.requireBuild(id);
    return this.builder.watch(id);
  }

  async rollback(app: string, buildId?: number): Promise<AppDetail> {
    this.registry.requireApp(app);
    await naming(`rolling back ${app}`, this.#options.stateDir, () => this.builder.rollback(app, buildId));
    return this.describeApp(app);
  }

  /**
   * Build `id` of `app`, by default the one that serves, as `rustless export` reads it: only a
   * succeeded build of that app, so an export reaches nothing the app's own builds do not hold.
   */
  exportBuild(app: string, id?: number): BuildRecord {
    const record = this.registry.requireApp(app);
    const buildId = id ?? record.currentBuild;
    if (buildId === null) throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `app ${app} has no build that serves: deploy it first`);
    const build = this.registry.getBuild(buildId);
    if (!build || build.app !== app || build.status !== 'succeeded' || !build.artifact) {
      throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `app ${app} has no succeeded build #${buildId}`);
    }
    return build;
  }

  async stopApp(app: string): Promise<void> {
    this.registry.requireApp(app);
    await this.lifecycle.stop(app);
  }

  /**
   * Deletes an app: its routes, builds, units, secrets; its data directory only when `data` says
   * so. An app with a data directory is not deleted until the caller says which.
   */
  async deleteApp(app: string, data?: DataChoice): Promise<void> {
    this.registry.requireApp(app);
    const dir = dataDir(this.#options.stateDir, app);
    if (data === undefined && existsSync(dir)) {
      throw new RustlessError('RUSTLESS_DATA_CHOICE_NEEDED', `app ${app} has a data directory (${dir}): say whether to keep it or delete it (rustless rm ${app} --keep-data or --delete-data)`, { details: { dataDir: dir } });
    }
    await this.lifecycle.exclusive(app, async () => {
      // The registry first: an `rm` cut short leaves no app half-removed, and the next start
      // removes what was left of it (units, images, builds, secrets; see start-recovery.ts).
      await naming(`removing ${app}`, this.#options.stateDir, () => this.registry.deleteApp(app));
      this.#reloadRoutes();
      this.#clients.drop(app);
      await this.backend.remove(app);
      await this.builder.removeApp(app);
      await this.secrets.removeApp(app);
      if (data === 'delete') await rm(dir, { recursive: true, force: true });
    });
    this.lifecycle.forget(app);
  }

  logs(app: string, options: { lines?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<string> {
    this.registry.requireApp(app);
    return this.backend.logs(app, options);
  }

  /** Stops listening, lets requests in flight finish, stops the runners, closes the registry. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#notifier.stopping();
      clearInterval(this.#statusTimer);
      this.#freshStart?.close();
      await Promise.all(this.#drainers.map(({ drainer, deadlineMs }) => drainer.drain(deadlineMs)));
      this.lifecycle.close();
      // A cold build can take minutes on a Pi: a stopping gateway cancels it (it is marked failed).
      await this.builder.close({ abort: true });
      await this.#clients.close();
      await this.backend.close();
      this.registry.close();
      await markStopped(this.#options.stateDir);
    })();
    return this.#closing;
  }

  #checkRoutes(manifest: AppManifest): void {
    const others = this.registry.liveRoutes().filter((route) => route.app !== manifest.name);
    // Only this app's routes are judged: overlaps among others, from older rules, are not its fault.
    const table = RouteTable.from(others, { onConflict: () => {} });
    for (const route of manifest.routes) {
      table.add({
        app: manifest.name,
        function: route.function,
        path: route.path,
        methods: route.methods,
        timeoutMs: route.timeoutMs,
        maxBodyBytes: manifest.maxBodyBytes,
        fallback: route.fallback === true,
        ...(route.accept ? { accept: route.accept } : {}),
      });
    }
  }

  /** Switches an app to a built version: no request in flight sees half of it. */
  async #activate(build: BuildRecord, artifact: BuildArtifact): Promise<void> {
    this.#checkRoutes(build.manifest);
    await this.lifecycle.exclusive(build.app, async () => {
      await this.backend.install(build.app, build.manifest, artifact);
      this.#clients.drop(build.app);
      this.lifecycle.markInactive(build.app);
      try {
        this.registry.activateBuild(build);
      } catch (error) {
        // The registry (a full disk, say) did not take it: the build it names goes back in place.
        const previous = this.registry.getApp(build.app)?.currentBuild;
        if (previous !== null && previous !== undefined) {
          const serving = this.registry.requireBuild(previous);
          await this.backend.install(build.app, serving.manifest, serving.artifact as BuildArtifact);
        }
        throw error;
      }
      this.lifecycle.setIdleTimeout(build.app, secondsToMs(build.manifest.idleTimeoutS));
      this.#reloadRoutes();
    });
  }

  /** Serving routes are never refused here: `#checkRoutes` judged them when they were deployed. */
  #reloadRoutes(onConflict: (error: RustlessError) => void = () => {}): void {
    this.#routes = RouteTable.from(this.registry.liveRoutes(), { onConflict });
  }

  async #summary(name: string): Promise<AppSummary> {
    const app = this.registry.requireApp(name);
    const latest = this.registry.listBuilds(name)[0];
    const current = app.currentBuild === null ? undefined : this.registry.requireBuild(app.currentBuild);
    const runtime = await this.backend.status(name).catch((error: unknown) => ({ state: 'unknown' as const, detail: String(error) }));
    const stats = this.lifecycle.stats(name).snapshot();
    return {
      name,
      status: appStatus(latest?.status, current !== undefined, runtime, stats.requests),
      currentBuild: app.currentBuild,
      latestBuild: latest ? { id: latest.id, status: latest.status } : null,
      routes: current ? routeInfo(current) : [],
      runtime,
      inflight: this.lifecycle.inflight(name),
      stats,
      memory: appMemory(current?.manifest.container.memory ?? null, this.backend.memoryLimits),
    };
  }

  #updateStatus(): void {
    if (!this.#notifier.enabled) return;
    const apps = this.registry.listApps();
    const running = apps.filter((app) => this.lifecycle.isActive(app.name)).length;
    this.#notifier.status(`${apps.length} apps, ${running} running, ${this.#requests} requests served`);
  }
}

function appMemory(limit: string | null, { enforced, reason, fix }: MemoryLimits): AppMemory {
  return enforced ? { limit, enforced } : { limit, enforced, ...(reason ? { reason } : {}), ...(fix ? { fix } : {}) };
}

function appStatus(latest: string | undefined, deployed: boolean, runtime: RuntimeStatus, requests: number): AppStatus {
  if (latest === 'queued' || latest === 'building') return 'building';
  // A runner that cannot start is failed until the backend's next try succeeds.
  if (!deployed || runtime.backoff) return 'failed';
  if (runtime.state === 'frozen') return 'frozen';
  if (runtime.state === 'running' || runtime.state === 'starting') return 'running';
  return requests > 0 ? 'stopped' : 'ready';
}

function routeInfo(build: BuildRecord): RouteInfo[] {
  return build.manifest.routes.map((r) => ({ methods: r.methods, path: r.path, function: r.function, timeoutMs: r.timeoutMs, ...(r.fallback ? { fallback: true } : {}) }));
}

function buildInfo(build: BuildRecord): BuildInfo {
  return { id: build.id, app: build.app, status: build.status, createdAt: build.createdAt, finishedAt: build.finishedAt, error: build.error, routes: routeInfo(build) };
}

function secondsToMs(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000;
}

/** The lifecycle's `memoryPressure`, when a limit is set and the kernel reports pressure. */
function frozenPressure(limitPercent: number | undefined): Pick<LifecycleOptions, 'memoryPressure'> {
  if (!limitPercent) return {};
  const read = memoryPressureReader();
  if (read === undefined) {
    console.error('rustless: this kernel reports no memory pressure (no cgroup2 memory.pressure): frozen apps are stopped by --frozen-timeout and --frozen-memory-mib only');
    return {};
  }
  return { memoryPressure: { read, limitPercent } };
}
