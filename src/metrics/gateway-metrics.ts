/**
 * The gateway's Prometheus metrics, served as `GET /metrics` on the admin listener and, with
 * `--metrics-listen`, on a port of their own (docs/metrics.md).
 *
 * Labels are bounded: `app` and `route` (the pattern as written in rustless.toml) come from
 * deployed manifests, `method` from the seven methods a route can name, `code` from the
 * statuses actually answered. A path no route matches is never a label value: such requests
 * count in `rustless_unrouted_requests_total{code}`. Counters only grow: the series of a
 * deleted app stay until the gateway restarts, as Prometheus expects of a counter.
 *
 * The request path bumps plain numbers (series.ts): each route keeps its series beside it, so
 * a request costs three map lookups and a few additions, with nothing allocated. prom-client, with the gateway process's own
 * metrics, is loaded at the first scrape and formats everything then.
 */
import type { Registry } from 'prom-client';
import type { RouteTarget } from '../router/route-table.js';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './series.js';

/** Seconds; a function call on a Pi is usually a few milliseconds, a slow one up to the route's timeout. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const COLD_START_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BUILD_BUCKETS = [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900];

/** What the metrics read from the gateway when scraped. */
export interface MetricsSource {
  apps(): string[];
  inflight(app: string): number;
  runnerUp(app: string): boolean;
  /** Optional: sources without a warm tier have no frozen runners. */
  runnerFrozen?(app: string): boolean;
}

/** A route's series for one method: a counter per status, one histogram. */
interface MethodSeries {
  requests: Map<number, CounterSeries>;
  durations: HistogramSeries;
}

export class GatewayMetrics {
  readonly #requests = new CounterFamily('rustless_requests_total', 'Requests answered, by app, route, method and status code.');
  readonly #durations = new HistogramFamily('rustless_request_duration_seconds', 'Time from a routed request to its answer, cold starts included.', REQUEST_BUCKETS);
  readonly #unrouted = new CounterFamily('rustless_unrouted_requests_total', 'Requests no route answered (404 and 405), by status code.');
  readonly #timeouts = new CounterFamily('rustless_timeouts_total', "Requests that ran past their route's timeout (504).");
  readonly #runnerFailures = new CounterFamily('rustless_runner_failures_total', 'Requests failed by the runner rather than the function (502, 503), by status code.');
  readonly #coldStarts = new CounterFamily('rustless_cold_starts_total', "Starts of an app's runner caused by a request.");
  readonly #coldStartDurations = new HistogramFamily('rustless_cold_start_duration_seconds', "Time to start an app's runner for a request.", COLD_START_BUCKETS);
  readonly #thaws = new CounterFamily('rustless_thaws_total', 'Thaws of a frozen (idle) runner caused by a request: the warm tier.');
  readonly #builds = new CounterFamily('rustless_builds_total', 'Finished builds, by outcome (succeeded, failed).');
  readonly #buildDurations = new HistogramFamily('rustless_build_duration_seconds', 'Time a build took, from start to serving or failure.', BUILD_BUCKETS);
  readonly #gauges: GaugeFamily[];
  readonly #routes = new WeakMap<RouteTarget, Map<string, MethodSeries>>();
  #registry: Promise<Registry> | undefined;

  constructor(source: MetricsSource) {
    this.#gauges = [
      new GaugeFamily('rustless_requests_in_flight', 'Requests an app is answering now.', () => source.apps().map((app) => ({ labels: { app }, value: source.inflight(app) }))),
      new GaugeFamily('rustless_runner_up', "1 when the app's runner is up (frozen included), 0 when it is stopped.", () => source.apps().map((app) => ({ labels: { app }, value: source.runnerUp(app) ? 1 : 0 }))),
      new GaugeFamily('rustless_runner_frozen', "1 when the app's runner is frozen for idleness (the warm tier).", () => source.apps().map((app) => ({ labels: { app }, value: source.runnerFrozen?.(app) ? 1 : 0 }))),
    ];
  }

  /** One answered request of a route; `seconds` from routing to the answer. */
  request(target: RouteTarget, method: string, status: number, seconds: number): void {
    let route = this.#routes.get(target);
    if (route === undefined) {
      route = new Map();
      this.#routes.set(target, route);
    }
    let byMethod = route.get(method);
    if (byMethod === undefined) {
      byMethod = { requests: new Map(), durations: this.#durations.series(`${target.app}\0${target.path}\0${method}`, () => ({ app: target.app, route: target.path, method })) };
      route.set(method, byMethod);
    }
    let requests = byMethod.requests.get(status);
    if (requests === undefined) {
      requests = this.#requests.series(`${target.app}\0${target.path}\0${method}\0${status}`, () => ({ app: target.app, route: target.path, method, code: String(status) }));
      byMethod.requests.set(status, requests);
    }
    requests.value++;
    byMethod.durations.observe(seconds);
    if (status === 504) this.#timeouts.series(`${target.app}\0${target.path}`, () => ({ app: target.app, route: target.path })).value++;
    else if (status === 502 || status === 503) this.#runnerFailures.series(`${target.app}\0${target.path}\0${status}`, () => ({ app: target.app, route: target.path, code: String(status) })).value++;
  }

  unrouted(status: number): void {
    this.#unrouted.series(String(status), () => ({ code: String(status) })).value++;
  }

  coldStart(app: string, seconds: number): void {
    this.#coldStarts.series(app, () => ({ app })).value++;
    this.#coldStartDurations.series(app, () => ({ app })).observe(seconds);
  }

  /** A request thawed a frozen runner (the thaw's time is in the request's duration). */
  thaw(app: string): void {
    this.#thaws.series(app, () => ({ app })).value++;
  }

  build(app: string, outcome: 'succeeded' | 'failed', seconds: number): void {
    this.#builds.series(`${app}\0${outcome}`, () => ({ app, outcome })).value++;
    this.#buildDurations.series(app, () => ({ app })).observe(seconds);
  }

  /** The text exposition format, and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    const registry = await (this.#registry ??= this.#load());
    return { text: await registry.metrics(), contentType: registry.contentType };
  }

  async #load(): Promise<Registry> {
    const { collectDefaultMetrics, Registry } = await import('prom-client');
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const families = [this.#requests, this.#durations, this.#unrouted, this.#timeouts, this.#runnerFailures, this.#coldStarts, this.#coldStartDurations, this.#thaws, this.#builds, this.#buildDurations, ...this.#gauges];
    for (const family of families) registry.registerMetric(family as unknown as Parameters<Registry['registerMetric']>[0]);
    return registry;
  }
}
