/** A Knative Service (serving.knative.dev/v1) for one app: scale to zero, the runner's contract. */
import type { AppSpec } from './app-spec.js';
import { labels, PIDS_ANNOTATION, podSecurityContext, runnerContainer, runnerVolumes } from './container.js';
import type { YamlValue } from './yaml.js';

/** Knative's default ceiling for `timeoutSeconds` (config-defaults `max-revision-timeout-seconds`). */
export const KNATIVE_MAX_TIMEOUT_S = 600;

export function knativeService(spec: AppSpec, namespace: string): YamlValue {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: spec.name,
      namespace,
      labels: {
        ...labels(spec),
        // Reached only through the HTTPRoute, as on the Pi only through the gateway.
        'networking.knative.dev/visibility': 'cluster-local',
      },
    },
    spec: {
      template: {
        metadata: {
          labels: labels(spec),
          annotations: {
            'autoscaling.knative.dev/min-scale': '0',
            // One pod writes the data directory's ReadWriteOnce claim.
            ...(spec.data ? { 'autoscaling.knative.dev/max-scale': '1' } : {}),
            [PIDS_ANNOTATION]: String(spec.pids),
          },
        },
        spec: {
          containerConcurrency: spec.containerConcurrency,
          timeoutSeconds: spec.timeoutSeconds,
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          // Pod securityContext and claims are behind Knative feature flags (docs/cluster.md).
          securityContext: podSecurityContext(spec),
          containers: [runnerContainer(spec, { setPort: false, portName: 'http1' })],
          ...(spec.secrets.length > 0 || spec.data ? { volumes: runnerVolumes(spec) } : {}),
        },
      },
    },
  };
}
