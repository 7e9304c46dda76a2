/** A plain Kubernetes Deployment + Service for one app, for clusters without Knative. */
import type { AppSpec } from './app-spec.js';
import { labels, NAME_LABEL, PIDS_ANNOTATION, podSecurityContext, runnerContainer, runnerVolumes } from './container.js';
import type { YamlValue } from './yaml.js';

/** The port the Service answers on; it forwards to the runner's container port. */
export const SERVICE_PORT = 80;

export function deployment(spec: AppSpec, namespace: string): YamlValue {
  const container = runnerContainer(spec, { setPort: true, portName: 'http' }) as Record<string, YamlValue>;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: spec.name, namespace, labels: labels(spec) },
    spec: {
      replicas: 1,
      // The data directory's claim is ReadWriteOnce: the old pod goes before the new one comes.
      ...(spec.data ? { strategy: { type: 'Recreate' } } : {}),
      selector: { matchLabels: { [NAME_LABEL]: spec.name } },
      template: {
        metadata: { labels: labels(spec), annotations: { [PIDS_ANNOTATION]: String(spec.pids) } },
        spec: {
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          // The runner drains requests in flight for at most 10 s after SIGTERM.
          terminationGracePeriodSeconds: 15,
          securityContext: podSecurityContext(spec),
          containers: [{ ...container, readinessProbe: { tcpSocket: { port: spec.port }, periodSeconds: 5 } }],
          ...(spec.secrets.length > 0 || spec.data ? { volumes: runnerVolumes(spec) } : {}),
        },
      },
    },
  };
}

export function service(spec: AppSpec, namespace: string): YamlValue {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: spec.name, namespace, labels: labels(spec) },
    spec: {
      selector: { [NAME_LABEL]: spec.name },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: spec.port, protocol: 'TCP' }],
    },
  };
}
