/**
 * Which apps are warm, what is in flight, and when an idle app is stopped.
 *
 * The one rule that keeps requests from being lost: an app is only stopped or swapped inside
 * `exclusive()`, which holds new requests back, waits for the ones in flight to finish, does
 * the work, then lets the held requests through (they cold-start the app again if needed).
 */
import type { Backend } from '../backends/backend.js';
import { AppStats } from './app-stats.js';

export interface LifecycleOptions {
  backend: Backend;
  /** Idle timeout for apps whose manifest sets none. */
  defaultIdleTimeoutMs: number;
  /** Called after an app was stopped, so its connection pool can be dropped. */
  onStopped?: (app: string) => void;
}

export interface Lease {
  socketPath: string;
  /** True when this request started the app. */
  coldStart: boolean;
  release(outcome: { status: number; durationMs: number }): void;
}

interface AppState {
  inflight: number;
  /** The gateway believes the app's runner is up (started and not stopped since). */
  active: boolean;
  idleTimeoutMs: number | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Set while an exclusive section runs; new requests wait for it. */
  gate: Promise<void> | undefined;
  drained: (() => void) | undefined;
  stats: AppStats;
}

export class AppLifecycle {
  readonly #options: LifecycleOptions;
  readonly #apps = new Map<string, AppState>();
  #closed = false;

  constructor(options: LifecycleOptions) {
    this.#options = options;
  }

  setIdleTimeout(app: string, ms: number | undefined): void {
    this.#state(app).idleTimeoutMs = ms;
  }

  stats(app: string): AppStats {
    return this.#state(app).stats;
  }

  inflight(app: string): number {
    return this.#apps.get(app)?.inflight ?? 0;
  }

  /** Takes a slot for one request: waits out any stop or swap, then makes sure the app runs. */
  async acquire(app: string): Promise<Lease> {
    const state = this.#state(app);
    while (state.gate) await state.gate;
    state.inflight++;
    clearTimeout(state.idleTimer);
    state.idleTimer = undefined;
    let released = false;
    const release = (outcome: { status: number; durationMs: number }): void => {
      if (released) return;
      released = true;
      state.inflight--;
      state.stats.record(outcome.status, outcome.durationMs);
      if (state.inflight === 0) {
        state.drained?.();
        this.#armIdleTimer(app, state);
      }
    };
    try {
      const coldStart = !state.active;
      const socketPath = await this.#options.backend.activate(app, { coldStart });
      if (coldStart) state.stats.coldStarts++;
      state.active = true;
      return { socketPath, coldStart, release };
    } catch (error) {
      release({ status: 503, durationMs: 0 });
      throw error;
    }
  }

  /**
   * Runs `work` with no request in flight for `app` and none let in until it is done:
   * used to stop, swap a new build in, or remove an app.
   */
  async exclusive<T>(app: string, work: () => Promise<T>): Promise<T> {
    const state = this.#state(app);
    while (state.gate) await state.gate;
    let open!: () => void;
    state.gate = new Promise<void>((resolve) => (open = resolve));
    try {
      if (state.inflight > 0) await new Promise<void>((resolve) => (state.drained = resolve));
      state.drained = undefined;
      return await work();
    } finally {
      state.gate = undefined;
      open();
    }
  }

  /** Stops the app's runner once nothing is in flight. */
  async stop(app: string): Promise<void> {
    await this.exclusive(app, async () => {
      const state = this.#state(app);
      clearTimeout(state.idleTimer);
      state.idleTimer = undefined;
      await this.#options.backend.stop(app);
      state.active = false;
      this.#options.onStopped?.(app);
    });
  }

  /** Forgets that the runner is up (it crashed or was replaced), so the next request counts as a cold start. */
  markInactive(app: string): void {
    this.#state(app).active = false;
  }

  forget(app: string): void {
    const state = this.#apps.get(app);
    if (state) clearTimeout(state.idleTimer);
    this.#apps.delete(app);
  }

  isActive(app: string): boolean {
    return this.#apps.get(app)?.active ?? false;
  }

  /** Clears every timer; the backend closes the runners. */
  close(): void {
    this.#closed = true;
    for (const state of this.#apps.values()) clearTimeout(state.idleTimer);
  }

  #armIdleTimer(app: string, state: AppState): void {
    if (this.#closed || !state.active) return;
    const ms = state.idleTimeoutMs ?? this.#options.defaultIdleTimeoutMs;
    state.idleTimer = setTimeout(() => {
      state.idleTimer = undefined;
      if (state.inflight === 0 && state.active) {
        this.stop(app).catch((error: unknown) => console.error(`rustless: stopping idle app ${app} failed: ${String(error)}`));
      }
    }, ms);
    state.idleTimer.unref();
  }

  #state(app: string): AppState {
    let state = this.#apps.get(app);
    if (!state) {
      state = { inflight: 0, active: false, idleTimeoutMs: undefined, idleTimer: undefined, gate: undefined, drained: undefined, stats: new AppStats() };
      this.#apps.set(app, state);
    }
    return state;
  }
}
