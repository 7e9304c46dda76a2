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

export function labels(spec: AppSpec): Record<string, string> {
  return { [NAME_LABEL]: spec.name, 'app.kubernetes.io/managed-by': 'rustless' };
}

/** `portName`: Knative wants `http1` (HTTP/1.1 to the container), a Deployment any name. */
export function runnerContainer(spec: AppSpec, { setPort, portName }: { setPort: boolean; portName: string }): YamlValue {
  const env: YamlValue[] = [{ name: 'RUSTLESS_APP', value: spec.name }];
  // Knative sets PORT itself and refuses a container that sets it.
  if (setPort) env.push({ name: 'PORT', value: String(spec.port) });
  for (const [name, value] of Object.entries(spec.env)) env.push({ name, value });
  for (const name of spec.secrets) env.push({ name, valueFrom: { secretKeyRef: { name: secretName(spec), key: name } } });
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
  };
}

export function secretName(spec: AppSpec): string {
  return `${spec.name}-secrets`;
}
