/**
 * The gateway's Prometheus metrics (prom-client), served as `GET /metrics` on the admin
 * listener and, with `--metrics-listen`, on a port of their own.
 *
 * Labels are bounded: `app` and `route` (the pattern as written in rustless.toml) come from
 * deployed manifests, `method` from the seven methods a route can name, `code` from the
 * statuses actually answered. A path no route matches is never a label value: such requests
 * count in `rustless_unrouted_requests_total{code}`.
 *
 * Counters only grow: the series of a deleted app stay until the gateway restarts, as
 * Prometheus expects of a counter.
 *
 * The hot path pays for two map lookups and two increments per request: each route's label
 * children are created once and kept beside it. What changes rarely (requests in flight,
 * whether a runner is up) is read when Prometheus scrapes, not recorded per request.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RouteTarget } from '../router/route-table.js';

/** Seconds; a function call on a Pi is usually a few milliseconds, a slow one up to the route's timeout. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const COLD_START_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BUILD_BUCKETS = [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900];

/** What the metrics read from the gateway when scraped. */
export interface MetricsSource {
  apps(): string[];
  inflight(app: string): number;
  runnerUp(app: string): boolean;
}

interface RouteChildren {
  requests: Map<string, Counter.Internal>;
  durations: Map<string, Histogram.Internal<'app' | 'route' | 'method'>>;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'app' | 'route' | 'method' | 'code'>;
  readonly #durations: Histogram<'app' | 'route' | 'method'>;
  readonly #unrouted: Counter<'code'>;
  readonly #timeouts: Counter<'app' | 'route'>;
  readonly #runnerFailures: Counter<'app' | 'route' | 'code'>;
  readonly #coldStarts: Counter<'app'>;
  readonly #coldStartDurations: Histogram<'app'>;
  readonly #builds: Counter<'app' | 'outcome'>;
  readonly #buildDurations: Histogram<'app'>;
  readonly #routes = new WeakMap<RouteTarget, RouteChildren>();

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#requests = new Counter({ name: 'rustless_requests_total', help: 'Requests answered, by app, route, method and status code.', labelNames: ['app', 'route', 'method', 'code'], registers });
    this.#durations = new Histogram({ name: 'rustless_request_duration_seconds', help: 'Time from a routed request to its answer, cold starts included.', labelNames: ['app', 'route', 'method'], buckets: REQUEST_BUCKETS, registers });
    this.#unrouted = new Counter({ name: 'rustless_unrouted_requests_total', help: 'Requests no route answered (404 and 405), by status code.', labelNames: ['code'], registers });
    this.#timeouts = new Counter({ name: 'rustless_timeouts_total', help: "Requests that ran past their route's timeout (504).", labelNames: ['app', 'route'], registers });
    this.#runnerFailures = new Counter({ name: 'rustless_runner_failures_total', help: 'Requests failed by the runner rather than the function (502, 503), by status code.', labelNames: ['app', 'route', 'code'], registers });
    this.#coldStarts = new Counter({ name: 'rustless_cold_starts_total', help: "Starts of an app's runner caused by a request.", labelNames: ['app'], registers });
    this.#coldStartDurations = new Histogram({ name: 'rustless_cold_start_duration_seconds', help: "Time to start an app's runner for a request.", labelNames: ['app'], buckets: COLD_START_BUCKETS, registers });
    this.#builds = new Counter({ name: 'rustless_builds_total', help: 'Finished builds, by outcome (succeeded, failed).', labelNames: ['app', 'outcome'], registers });
    this.#buildDurations = new Histogram({ name: 'rustless_build_duration_seconds', help: 'Time a build took, from start to serving or failure.', labelNames: ['app'], buckets: BUILD_BUCKETS, registers });
    new Gauge({
      name: 'rustless_requests_in_flight',
      help: 'Requests an app is answering now.',
      labelNames: ['app'],
      registers,
      collect() {
        this.reset();
        for (const app of source.apps()) this.set({ app }, source.inflight(app));
      },
    });
    new Gauge({
      name: 'rustless_runner_up',
      help: "1 when the app's runner is up, 0 when it is stopped.",
      labelNames: ['app'],
      registers,
      collect() {
        this.reset();
        for (const app of source.apps()) this.set({ app }, source.runnerUp(app) ? 1 : 0);
      },
    });
  }

  /** One answered request of a route; `seconds` from routing to the answer. */
  request(target: RouteTarget, method: string, status: number, seconds: number): void {
    let children = this.#routes.get(target);
    if (children === undefined) {
      children = { requests: new Map(), durations: new Map() };
      this.#routes.set(target, children);
    }
    const key = `${method} ${status}`;
    let counter = children.requests.get(key);
    if (counter === undefined) {
      counter = this.#requests.labels(target.app, target.path, method, String(status));
      children.requests.set(key, counter);
    }
    counter.inc();
    let histogram = children.durations.get(method);
    if (histogram === undefined) {
      histogram = this.#durations.labels(target.app, target.path, method);
      children.durations.set(method, histogram);
    }
    histogram.observe(seconds);
    if (status === 504) this.#timeouts.inc({ app: target.app, route: target.path });
    else if (status === 502 || status === 503) this.#runnerFailures.inc({ app: target.app, route: target.path, code: String(status) });
  }

  unrouted(status: number): void {
    this.#unrouted.inc({ code: String(status) });
  }

  coldStart(app: string, seconds: number): void {
    this.#coldStarts.inc({ app });
    this.#coldStartDurations.observe({ app }, seconds);
  }

  build(app: string, outcome: 'succeeded' | 'failed', seconds: number): void {
    this.#builds.inc({ app, outcome });
    this.#buildDurations.observe({ app }, seconds);
  }

  /** The text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
