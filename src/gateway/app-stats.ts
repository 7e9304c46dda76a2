/** Per-app request counters for the dashboard: counts, errors, cold starts, recent latency. */
import type { AppStatsSnapshot } from '../api/types.js';

const WINDOW = 200;

export class AppStats {
  requests = 0;
  errors = 0;
  coldStarts = 0;
  /** Epoch ms of the last request; a number, since a `Date` per request costs on the hot path. */
  lastUsedAtMs: number | null = null;
  /** A ring of the latest durations, enough for stable percentiles without unbounded memory. */
  readonly #durations: number[] = [];
  #next = 0;

  record(status: number, durationMs: number): void {
    this.requests++;
    if (status >= 500) this.errors++;
    this.lastUsedAtMs = Date.now();
    if (this.#durations.length < WINDOW) this.#durations.push(durationMs);
    else this.#durations[this.#next] = durationMs;
    this.#next = (this.#next + 1) % WINDOW;
  }

  snapshot(): AppStatsSnapshot {
    const sorted = [...this.#durations].sort((a, b) => a - b);
    const pick = (q: number): number | null => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
    return {
      requests: this.requests,
      errors: this.errors,
      coldStarts: this.coldStarts,
      lastUsedAt: this.lastUsedAtMs === null ? null : new Date(this.lastUsedAtMs).toISOString(),
      latencyMsP50: pick(0.5),
      latencyMsP95: pick(0.95),
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
