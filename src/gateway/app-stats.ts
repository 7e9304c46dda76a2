/**
 * Per-app request counters for the dashboard: counts, errors, cold starts, recent latency, and
 * request and error rates over the last minute. Updated where the Prometheus metrics are.
 */
import type { AppStatsSnapshot } from '../api/types.js';

const WINDOW = 200;
/** Request and error rates are over the last minute, in one-second buckets. */
const RATE_SECONDS = 60;

export class AppStats {
  requests = 0;
  errors = 0;
  coldStarts = 0;
  /** Requests that thawed the app from the warm tier. */
  thaws = 0;
  /** Epoch ms of the last request; a number, since a `Date` per request costs on the hot path. */
  lastUsedAtMs: number | null = null;
  /** A ring of the latest durations, enough for stable percentiles without unbounded memory. */
  readonly #durations: number[] = [];
  #next = 0;
  readonly #bucketSecond = new Array<number>(RATE_SECONDS).fill(-1);
  readonly #bucketRequests = new Array<number>(RATE_SECONDS).fill(0);
  readonly #bucketErrors = new Array<number>(RATE_SECONDS).fill(0);

  record(status: number, durationMs: number): void {
    const now = Date.now();
    const error = status >= 500;
    this.requests++;
    if (error) this.errors++;
    this.lastUsedAtMs = now;
    const second = Math.floor(now / 1000);
    const bucket = second % RATE_SECONDS;
    if (this.#bucketSecond[bucket] !== second) {
      this.#bucketSecond[bucket] = second;
      this.#bucketRequests[bucket] = 0;
      this.#bucketErrors[bucket] = 0;
    }
    this.#bucketRequests[bucket]!++;
    if (error) this.#bucketErrors[bucket]!++;
    if (this.#durations.length < WINDOW) this.#durations.push(durationMs);
    else this.#durations[this.#next] = durationMs;
    this.#next = (this.#next + 1) % WINDOW;
  }

  snapshot(now = Date.now()): AppStatsSnapshot {
    const second = Math.floor(now / 1000);
    let requests = 0;
    let errors = 0;
    for (let i = 0; i < RATE_SECONDS; i++) {
      if (second - this.#bucketSecond[i]! >= RATE_SECONDS) continue;
      requests += this.#bucketRequests[i]!;
      errors += this.#bucketErrors[i]!;
    }
    const sorted = [...this.#durations].sort((a, b) => a - b);
    const pick = (q: number): number | null => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
    return {
      requests: this.requests,
      errors: this.errors,
      coldStarts: this.coldStarts,
      thaws: this.thaws,
      lastUsedAt: this.lastUsedAtMs === null ? null : new Date(this.lastUsedAtMs).toISOString(),
      latencyMsP50: pick(0.5),
      latencyMsP95: pick(0.95),
      requestsPerS: Math.round((requests / RATE_SECONDS) * 100) / 100,
      errorRatio: requests === 0 ? null : errors / requests,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
