/**
 * An app without `container.network = true` runs with no network on the Pi (Quadlet
 * `Network=none`). In a cluster it must still accept requests, so the nearest equivalent is a
 * NetworkPolicy that lets nothing out of its pods (enforced where the cluster's network plugin
 * enforces policies; k3s does by default).
 */
import type { AppSpec } from './app-spec.js';
import { labels, NAME_LABEL } from './container.js';
import type { YamlValue } from './yaml.js';

export function noEgressPolicy(spec: AppSpec, namespace: string): YamlValue {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `${spec.name}-no-egress`, namespace, labels: labels(spec) },
    spec: {
      podSelector: { matchLabels: { [NAME_LABEL]: spec.name } },
      policyTypes: ['Egress'],
      egress: [],
    },
  };
}
