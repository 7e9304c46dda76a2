/**
 * What a cluster needs to know about one deployed app, taken from its serving build: image,
 * port, limits, timeouts and routes. The Knative and Deployment renderers read only this.
 */
import { RustlessError } from '../errors.js';
import type { AppManifest, RouteSpec } from '../manifest/manifest.js';

export interface AppSpec {
  name: string;
  /** Where the cluster pulls the image from. */
  image: string;
  /** The port the runner listens on in the container (`PORT`). */
  port: number;
  /** A Kubernetes quantity (`128Mi`). */
  memory: string;
  /** rustless.toml's `container.pids`; Kubernetes sets pid limits per node, not per container. */
  pids: number;
  /** The longest route timeout, whole seconds. */
  timeoutSeconds: number;
  /** Requests one runner takes at once. */
  containerConcurrency: number;
  network: boolean;
  routes: RouteSpec[];
  /** rustless.toml's `[env]`: plain settings for the container's environment. */
  env: Record<string, string>;
  /** rustless.toml's `secrets`: names only; the values go in a Secret `<app>-secrets` the operator creates. */
  secrets: string[];
  /** `[storage] data = true`: a volume that outlives the pod, at RUSTLESS_DATA_DIR. */
  data: boolean;
}

export const DEFAULT_CONTAINER_PORT = 8080;
/** A numeric uid (the image is FROM scratch: no /etc/passwd), the conventional `nobody`. */
export const RUNNER_UID = 65534;

export interface AppSpecOptions {
  image: string;
  port?: number;
}

export function appSpec(manifest: AppManifest, { image, port = DEFAULT_CONTAINER_PORT }: AppSpecOptions): AppSpec {
  const longestMs = Math.max(...manifest.routes.map((route) => route.timeoutMs));
  return {
    name: manifest.name,
    image,
    port,
    memory: kubeMemory(manifest.container.memory),
    pids: manifest.container.pids,
    timeoutSeconds: Math.ceil(longestMs / 1000),
    containerConcurrency: concurrencyFor(manifest.container.pids),
    network: manifest.container.network,
    routes: manifest.routes,
    env: { ...manifest.env },
    secrets: [...manifest.secrets],
    data: manifest.storage.data,
  };
}

/**
 * The runner gives each connection a thread, and a routed request runs its function on a second
 * one; both count against the pid limit. So the requests one runner can hold at once are about
 * half its pids, less a few for the main thread and headroom. Past that, Knative queues requests
 * in front of the pod or starts another one instead of the runner failing to start a thread.
 */
export function concurrencyFor(pids: number): number {
  return Math.max(1, Math.min(1000, Math.floor((pids - 8) / 2)));
}

/** systemd sizes (`64M`, `1G`, bytes) as Kubernetes quantities (`64Mi`, `1Gi`). systemd's K/M/G are powers of 1024. */
export function kubeMemory(size: string): string {
  const match = /^([0-9]+)([KMG]?)$/.exec(size);
  if (!match) throw new RustlessError('RUSTLESS_INVALID_MANIFEST', `container.memory must be a size such as "64M", got ${JSON.stringify(size)}`);
  return match[2] ? `${match[1]}${match[2]}i` : match[1]!;
}
