/**
 * The routing across apps as Gateway API HTTPRoutes, so `/hello/...` and `/todos/...` keep
 * working on one host name in front of the apps' Services.
 *
 * A Gateway matches path prefixes, not `:param` patterns, so each route contributes the literal
 * segments before its first parameter; the runner then matches the full pattern itself, with the
 * same precedence as on the Pi (the longest prefix wins at the Gateway, as literal segments win
 * in the rust-less router). Methods are matched only where two apps share a prefix: elsewhere a
 * wrong method must reach the runner, which answers 405 with `allow` (a Gateway would say 404).
 */
import { RustlessError } from '../errors.js';
import { parsePattern } from '../router/pattern.js';
import type { AppSpec } from './app-spec.js';
import { SERVICE_PORT } from './deployment.js';
import type { YamlValue } from './yaml.js';

export interface HttpRouteOptions {
  kind: 'knative' | 'deployment';
  namespace: string;
  /** The Gateway the routes attach to. */
  gateway: { name: string; namespace?: string | undefined };
  hostname?: string | undefined;
}

/** The Gateway API standard channel allows at most 16 rules per HTTPRoute. */
export const MAX_RULES = 16;
const MAX_MATCHES = 64;

/** One HTTPRoute per 16 apps (usually just one, `rustless`). */
export function httpRoutes(apps: readonly AppSpec[], options: HttpRouteOptions): YamlValue[] {
  const owners = new Map<string, Set<string>>();
  for (const app of apps) for (const prefix of prefixes(app)) (owners.get(prefix) ?? owners.set(prefix, new Set()).get(prefix)!).add(app.name);

  const rules = apps.map((app) => rule(app, owners, options));
  const chunks: YamlValue[][] = [];
  for (let i = 0; i < rules.length; i += MAX_RULES) chunks.push(rules.slice(i, i + MAX_RULES));
  return chunks.map((chunk, index) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: chunks.length === 1 ? 'rustless' : `rustless-${index + 1}`, namespace: options.namespace, labels: { 'app.kubernetes.io/managed-by': 'rustless' } },
    spec: {
      parentRefs: [{ name: options.gateway.name, ...(options.gateway.namespace ? { namespace: options.gateway.namespace } : {}) }],
      ...(options.hostname ? { hostnames: [options.hostname] } : {}),
      rules: chunk,
    },
  }));
}

/** The literal part of each route's pattern, once each: `/hello/:name` → `/hello`, `/:id` → `/`. */
export function prefixes(app: AppSpec): string[] {
  const out = new Set<string>();
  for (const route of app.routes) {
    const segments = parsePattern(route.path);
    const literal: string[] = [];
    for (const segment of segments) {
      if (segment.kind !== 'literal') break;
      literal.push(segment.value);
    }
    out.add(`/${literal.join('/')}`);
  }
  return [...out];
}

function rule(app: AppSpec, owners: Map<string, Set<string>>, options: HttpRouteOptions): YamlValue {
  const matches: YamlValue[] = [];
  for (const prefix of prefixes(app)) {
    const path = { type: 'PathPrefix', value: prefix };
    const methods = methodsUnder(app, prefix);
    if (owners.get(prefix)!.size === 1 || methods.includes('*')) matches.push({ path });
    else for (const method of methods) matches.push({ path, method });
  }
  if (matches.length > MAX_MATCHES) {
    throw new RustlessError('RUSTLESS_INVALID_MANIFEST', `app ${app.name} needs ${matches.length} HTTPRoute matches; a Gateway API rule holds at most ${MAX_MATCHES}`);
  }
  const backend = { name: app.name, port: SERVICE_PORT };
  return {
    matches,
    // Knative's Service is a name for its ingress, which routes by host name: send the app's
    // cluster-local name, as Knative would expect from any client inside the cluster.
    ...(options.kind === 'knative'
      ? { filters: [{ type: 'URLRewrite', urlRewrite: { hostname: `${app.name}.${options.namespace}.svc.cluster.local` } }] }
      : {}),
    backendRefs: [backend],
  };
}

/** Methods of the app's routes whose literal prefix is `prefix`. */
function methodsUnder(app: AppSpec, prefix: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    const [routePrefix] = prefixes({ ...app, routes: [route] });
    if (routePrefix === prefix) for (const method of route.methods) methods.add(method);
  }
  return [...methods].sort();
}
