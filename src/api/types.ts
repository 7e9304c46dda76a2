/**
 * The JSON shapes of the admin API (see docs/admin-api.md). The gateway serves them, the admin
 * client, the CLI and the TUI read them: this module sits below all of them and imports nothing
 * but types from the layers beneath (backends, registry).
 */
import type { MemoryLimits, RuntimeStatus } from '../backends/backend.js';
import type { AppManifest } from '../manifest/manifest.js';
import type { BuildStatus } from '../registry/registry.js';

/** Request counters of one app, as the dashboard shows them. */
export interface AppStatsSnapshot {
  requests: number;
  errors: number;
  coldStarts: number;
  /** Requests that thawed a frozen app (the warm tier) rather than starting it. */
  thaws: number;
  lastUsedAt: string | null;
  latencyMsP50: number | null;
  latencyMsP95: number | null;
  /** Requests a second over the last minute. */
  requestsPerS: number;
  /** The share of the last minute's requests answered with a 5xx; null without requests. */
  errorRatio: number | null;
}

/** `frozen`: its runner is up but frozen for idleness (the warm tier); the next request thaws it. */
export type AppStatus = 'building' | 'ready' | 'running' | 'frozen' | 'stopped' | 'failed';

export interface RouteInfo {
  methods: string[];
  path: string;
  function: string;
  timeoutMs: number;
  /** Present (true) on a catch-all that answers only what no other app's route matches. */
  fallback?: true;
}

export interface BuildInfo {
  id: number;
  app: string;
  status: BuildStatus;
  createdAt: string;
  finishedAt: string | null;
  error: string | null;
  routes: RouteInfo[];
}

/** An app's memory limit as it holds, not only as rustless.toml writes it. */
export interface AppMemory {
  /** The serving build's `container.memory` (`128M`); null before a build serves. */
  limit: string | null;
  /** False when nothing enforces it (no memory controller; the local backend). */
  enforced: boolean;
  /** Why not, and what makes it hold, when not enforced. */
  reason?: string;
  fix?: string;
}

export interface AppSummary {
  name: string;
  status: AppStatus;
  /** The build that serves, if any. */
  currentBuild: number | null;
  latestBuild: { id: number; status: BuildStatus } | null;
  routes: RouteInfo[];
  runtime: RuntimeStatus;
  inflight: number;
  stats: AppStatsSnapshot;
  memory: AppMemory;
}

/** A secret an app's manifest declares, or one that is set, or both; never its value. */
export interface SecretInfo {
  name: string;
  set: boolean;
  declared: boolean;
}

export interface AppDetail extends AppSummary {
  builds: BuildInfo[];
  idleTimeoutS: number;
  secrets: SecretInfo[];
  /** The names of the serving build's `[env]` settings. */
  env: string[];
  /** The app's data directory on the host, when its manifest asks for one or one is left over. */
  dataDir: string | null;
}

/** What `DELETE /v1/apps/:app` does with an app's data directory. */
export type DataChoice = 'keep' | 'delete';

/** `GET /v1/apps/:app/export`: what `rustless export` writes an app's manifests from. */
export interface ExportSource {
  app: string;
  /** The build exported: the serving one unless the request named another. */
  build: number;
  /** That build's rustless.toml, as the gateway parsed it (secret names, never values). */
  manifest: AppManifest;
  /** The image on the host (`localhost/rustless-fn-<app>:<build>`). */
  image: string;
  /** The CPU architecture its runner was built for (`arm64`, `amd64`). */
  architecture: string;
}

export interface GatewayInfo {
  version: string;
  backend: string;
  /** Where the public HTTP listener answers, when it is a TCP port. */
  publicUrl: string | null;
  apps: number;
  uptimeS: number;
  /** Whether the backend's memory limits, for functions and for builds, hold. */
  memoryLimits: MemoryLimits;
}
