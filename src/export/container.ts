/**
 * The runner's container as both Knative and a plain Deployment run it: the same lock-down the
 * systemd backend gives it with Quadlet (read-only root, no capabilities, no privilege escalation,
 * a non-root user, a memory limit).
 */
import { RUNNER_UID, type AppSpec } from './app-spec.js';
import type { YamlValue } from './yaml.js';

/** Names a cluster resource of the app; also the label value that ties them together. */
export const NAME_LABEL = 'app.kubernetes.io/name';
/** rustless.toml's pid limit, kept for the record: Kubernetes limits pids per node (kubelet `podPidsLimit`). */
export const PIDS_ANNOTATION = 'rustless.dev/pids-limit';
/** Where the Secret is mounted: `rustless::secret("NAME")` reads `$RUSTLESS_SECRETS_DIR/NAME`, one file per key. */
export const SECRETS_DIR = '/run/rustless/secrets';
/** Where the data volume is mounted: `rustless::data_dir()` is `$RUSTLESS_DATA_DIR`. */
export const DATA_DIR = '/var/lib/rustless/data';

export function labels(spec: AppSpec): Record<string, string> {
  return { [NAME_LABEL]: spec.name, 'app.kubernetes.io/managed-by': 'rustless' };
}

/** `portName`: Knative wants `http1` (HTTP/1.1 to the container), a Deployment any name. */
export function runnerContainer(spec: AppSpec, { setPort, portName }: { setPort: boolean; portName: string }): YamlValue {
  const env: YamlValue[] = [{ name: 'RUSTLESS_APP', value: spec.name }];
  // Knative sets PORT itself and refuses a container that sets it.
  if (setPort) env.push({ name: 'PORT', value: String(spec.port) });
  for (const [name, value] of Object.entries(spec.env)) env.push({ name, value });
  const mounts: YamlValue[] = [];
  if (spec.secrets.length > 0) {
    env.push({ name: 'RUSTLESS_SECRETS_DIR', value: SECRETS_DIR });
    mounts.push({ name: 'secrets', mountPath: SECRETS_DIR, readOnly: true });
  }
  if (spec.data) {
    env.push({ name: 'RUSTLESS_DATA_DIR', value: DATA_DIR });
    mounts.push({ name: 'data', mountPath: DATA_DIR });
  }
  return {
    name: 'runner',
    image: spec.image,
    ports: [{ name: portName, containerPort: spec.port, protocol: 'TCP' }],
    env,
    resources: {
      // Requests equal to limits: the pod gets what the Pi's unit got, no more, no less.
      requests: { memory: spec.memory },
      limits: { memory: spec.memory },
    },
    securityContext: {
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: RUNNER_UID,
      runAsGroup: RUNNER_UID,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
  };
}

/**
 * The pod's volumes for `runnerContainer`'s mounts: the app's Secret (only its name: the values
 * are the operator's to create) and the claim of its data directory.
 */
export function runnerVolumes(spec: AppSpec): YamlValue[] {
  const volumes: YamlValue[] = [];
  if (spec.secrets.length > 0) volumes.push({ name: 'secrets', secret: { secretName: secretName(spec), items: spec.secrets.map((key) => ({ key, path: key })) } });
  if (spec.data) volumes.push({ name: 'data', persistentVolumeClaim: { claimName: dataClaimName(spec) } });
  return volumes;
}

/** The runner's uid owns what it writes in the data volume. */
export function podSecurityContext(spec: AppSpec): YamlValue | undefined {
  return spec.data ? { fsGroup: RUNNER_UID } : undefined;
}

/** A claim for the data directory: one runner writes it (ReadWriteOnce), so one pod at a time. */
export function dataClaim(spec: AppSpec, namespace: string): YamlValue {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: dataClaimName(spec), namespace, labels: labels(spec) },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: DATA_CLAIM_SIZE } } },
  };
}

export const DATA_CLAIM_SIZE = '1Gi';

export function secretName(spec: AppSpec): string {
  return `${spec.name}-secrets`;
}

export function dataClaimName(spec: AppSpec): string {
  return `${spec.name}-data`;
}
