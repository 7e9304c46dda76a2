/**
 * Which apps are warm, what is in flight, and when an idle app is frozen or stopped.
 *
 * The warm tier, when the backend has one: an app idle for its idle timeout is frozen (no CPU,
 * memory kept), the next request thaws it (one file write, on the request path, no systemctl),
 * and it is stopped after `frozenTimeoutMs` frozen, or sooner, longest-frozen first, when the
 * frozen apps together hold more than `frozenBudgetBytes`, or while the machine is short of
 * memory (`memoryPressure`).
 *
 * The one rule that keeps requests from being lost: an app is only stopped or swapped inside
 * `exclusive()`, which holds new requests back, waits for the ones in flight to finish, does
 * the work, then lets the held requests through (they cold-start the app again if needed).
 */
import type { Backend, RunnerExit } from '../backends/backend.js';
import { AppStats } from './app-stats.js';
import type { MemoryPressureReader } from './memory-pressure.js';

export interface LifecycleOptions {
  backend: Backend;
  /** Idle timeout for apps whose manifest sets none. */
  defaultIdleTimeoutMs: number;
  /**
   * How long an app stays frozen before it is stopped; 0 turns the warm tier off (idle apps
   * are stopped at once, as on a backend without `freeze`).
   */
  frozenTimeoutMs?: number;
  /** The most memory frozen apps may hold together; past it the longest-frozen are stopped. */
  frozenBudgetBytes?: number;
  /**
   * While apps are frozen, the machine's memory pressure is read every few seconds; at or over
   * `limitPercent` the longest-frozen app is stopped, then the next one a pressure window later
   * if the pressure holds.
   */
  memoryPressure?: { read: MemoryPressureReader; limitPercent: number };
  /** Called after an app was stopped, so its connection pool can be dropped. */
  onStopped?: (app: string) => void;
  /** A request thawed a frozen app; `seconds` the thaw took. */
  onThaw?: (app: string, seconds: number) => void;
  /** A request started the app's runner; `seconds` the backend took to have it accept. */
  onColdStart?: (app: string, seconds: number) => void;
}

export interface Lease {
  socketPath: string;
  /** True when this request started the app. */
  coldStart: boolean;
  /** Ends the request's slot; `undefined` when it is sent again (the retry's lease records the outcome). */
  release(outcome: { status: number; durationMs: number } | undefined): void;
}

interface AppState {
  inflight: number;
  /** The gateway believes the app's runner is up (started and not stopped since). */
  active: boolean;
  /** Where the runner listens, as the backend said on the last activation. */
  socketPath: string | undefined;
  idleTimeoutMs: number | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** `performance.now()` when the last request in flight ended. */
  idleSince: number;
  /** The runner is frozen (the warm tier): the next request thaws it. */
  frozen: boolean;
  /** `performance.now()` when it was frozen, and the memory it keeps, for the budget. */
  frozenAt: number;
  frozenBytes: number;
  /** Stops it once it has been frozen for `frozenTimeoutMs`. */
  frozenTimer: NodeJS.Timeout | undefined;
  /** Set while an exclusive section runs; new requests wait for it. */
  gate: Promise<void> | undefined;
  drained: (() => void) | undefined;
  stats: AppStats;
}

export class AppLifecycle {
  readonly #options: LifecycleOptions;
  readonly #apps = new Map<string, AppState>();
  #closed = false;
  /** Reads the memory pressure while some app is frozen (`memoryPressure`). */
  #pressureTimer: NodeJS.Timeout | undefined;
  /** `performance.now()` before which no frozen app is stopped for pressure again. */
  #nextPressureStop = 0;

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

  /**
   * The warm path: a slot for one request when the app is known to be up and no stop, swap
   * or lone retry is under way, without asking the backend; undefined otherwise (then use
   * `acquire`). A runner that died meanwhile shows as a failed connection, and the caller
   * retries through `acquire`.
   */
  tryAcquire(app: string): Lease | undefined {
    const state = this.#apps.get(app);
    if (state === undefined || !state.active || state.frozen || state.gate !== undefined || state.socketPath === undefined) return undefined;
    this.#enter(state);
    return new AppLease(this, app, state, state.socketPath, false, undefined);
  }

  /**
   * Takes a slot for one request: waits out any stop or swap, then makes sure the app runs.
   * With `alone`, the request also waits for every request in flight to finish and holds new
   * ones back until it is released: a request retried after its runner died runs by itself, so
   * that if it is the one that kills the runner, it takes no other request with it.
   */
  async acquire(app: string, { alone = false }: { alone?: boolean } = {}): Promise<Lease> {
    const state = this.#state(app);
    while (state.gate) await state.gate;
    let open: (() => void) | undefined;
    if (alone) {
      state.gate = new Promise<void>((resolve) => (open = resolve));
      if (state.inflight > 0) await new Promise<void>((resolve) => (state.drained = resolve));
      state.drained = undefined;
    }
    this.#enter(state);
    try {
      if (state.frozen) this.#thaw(app, state, true);
      const coldStart = !state.active;
      const asked = performance.now();
      const { socketPath, started } = await this.#options.backend.activate(app, { coldStart });
      if (coldStart) {
        state.stats.coldStarts++;
        // The request may go before the start is over (systemd queues it in the app's socket);
        // the time is the start's. A failed one sends the request back, unsent, into the backend's 503.
        started.then(() => this.#options.onColdStart?.(app, (performance.now() - asked) / 1000), () => undefined);
      }
      state.active = true;
      state.socketPath = socketPath;
      return new AppLease(this, app, state, socketPath, coldStart, open);
    } catch (error) {
      this.leave(app, state, { status: 503, durationMs: 0 }, open);
      throw error;
    }
  }

  /**
   * Ends a slot taken by `#enter` (through its lease); `open` lets held requests in after a lone
   * one. Without an outcome (a request sent again) nothing is counted.
   */
  leave(app: string, state: AppState, outcome: { status: number; durationMs: number } | undefined, open?: () => void): void {
    state.inflight--;
    if (outcome) state.stats.record(outcome.status, outcome.durationMs);
    if (state.inflight === 0) {
      state.idleSince = performance.now();
      state.drained?.();
      this.#armIdleTimer(app, state);
    }
    if (open) {
      state.gate = undefined;
      open();
    }
  }

  #enter(state: AppState): void {
    // The idle timer stays: it checks `inflight` and `idleSince` when it fires.
    state.inflight++;
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
      // A stop, swap or removal acts on a running runner.
      if (state.frozen) this.#thaw(app, state, false);
      return await work();
    } finally {
      state.gate = undefined;
      open();
    }
  }

  /**
   * Freezes the idle app's runner (the warm tier) once nothing is in flight; stops it when the
   * backend cannot freeze it. Then stops the longest-frozen apps while the frozen ones hold
   * more memory than the budget.
   */
  async freeze(app: string): Promise<void> {
    const backend = this.#options.backend;
    await this.exclusive(app, async () => {
      const state = this.#state(app);
      if (!state.active || this.#closed) return;
      const frozen = await backend.freeze!(app).catch((error: unknown) => {
        console.error(`rustless: freezing idle app ${app} failed, stopping it instead: ${(error as Error).message}`);
        return undefined;
      });
      if (frozen === undefined) return this.#stopNow(app, state);
      state.frozen = true;
      state.frozenAt = performance.now();
      state.frozenBytes = frozen.memoryBytes;
      state.frozenTimer = setTimeout(() => this.#stopFrozen(app), this.#options.frozenTimeoutMs);
      state.frozenTimer.unref();
    });
    this.#keepFrozenWithinBudget();
    if (this.#options.memoryPressure !== undefined && this.#pressureTimer === undefined && !this.#closed) {
      this.#pressureTimer = setInterval(() => void this.#stopFrozenUnderPressure(), PRESSURE_CHECK_MS);
      this.#pressureTimer.unref();
    }
  }

  /**
   * A frozen app keeps its memory for a request that may never come: when the machine runs
   * short, the longest-frozen goes first. One app per pressure window (the kernel's avg10 takes
   * that long to show what a stop freed), so a short squeeze does not stop them all.
   */
  async #stopFrozenUnderPressure(): Promise<void> {
    if (this.#frozenByAge().length === 0) {
      clearInterval(this.#pressureTimer);
      this.#pressureTimer = undefined;
      return;
    }
    if (performance.now() < this.#nextPressureStop) return;
    const { read, limitPercent } = this.#options.memoryPressure!;
    const pressure = await read();
    if (pressure === undefined || pressure < limitPercent) return;
    // Asked again after the read: a request may have thawed one meanwhile.
    const [oldest] = this.#frozenByAge();
    if (oldest === undefined) return;
    const [app] = oldest;
    this.#nextPressureStop = performance.now() + PRESSURE_WINDOW_MS;
    console.error(`rustless: memory pressure: tasks waited for memory ${pressure}% of the last 10 s (limit ${limitPercent}%): stopping ${app}, frozen longest`);
    this.#stopFrozen(app);
  }

  /** The frozen apps, longest-frozen first. */
  #frozenByAge(): Array<[string, AppState]> {
    return [...this.#apps].filter(([, state]) => state.frozen).sort(([, a], [, b]) => a.frozenAt - b.frozenAt);
  }

  /** Stops a frozen app in the background (a timer's or a limit's doing: nobody waits for it). */
  #stopFrozen(app: string): void {
    this.stop(app).catch((error: unknown) => console.error(`rustless: stopping frozen app ${app} failed: ${String(error)}`));
  }

  isFrozen(app: string): boolean {
    return this.#apps.get(app)?.frozen ?? false;
  }

  /** Stops the app's runner once nothing is in flight. */
  async stop(app: string): Promise<void> {
    await this.exclusive(app, async () => this.#stopNow(app, this.#state(app)));
  }

  async #stopNow(app: string, state: AppState): Promise<void> {
    clearTimeout(state.idleTimer);
    state.idleTimer = undefined;
    await this.#options.backend.stop(app);
    state.active = false;
    this.#options.onStopped?.(app);
  }

  /**
   * Thaws a frozen app, synchronously; a runner that vanished meanwhile is started again.
   * `byRequest`: a request's thaw (counted), not a stop's or a swap's.
   */
  #thaw(app: string, state: AppState, byRequest: boolean): void {
    const started = performance.now();
    state.frozen = false;
    clearTimeout(state.frozenTimer);
    state.frozenTimer = undefined;
    if (!this.#options.backend.thaw!(app)) state.active = false;
    if (!byRequest) return;
    state.stats.thaws++;
    this.#options.onThaw?.(app, (performance.now() - started) / 1000);
  }

  /** Past the budget, stops frozen apps, longest-frozen first, until the rest fit. */
  #keepFrozenWithinBudget(): void {
    const budget = this.#options.frozenBudgetBytes;
    if (budget === undefined) return;
    const frozen = this.#frozenByAge();
    let total = frozen.reduce((sum, [, state]) => sum + state.frozenBytes, 0);
    for (const [app, state] of frozen) {
      if (total <= budget) break;
      total -= state.frozenBytes;
      console.error(`rustless: frozen apps hold ${mib(total + state.frozenBytes)} MiB, over the budget of ${mib(budget)} MiB: stopping ${app}, frozen longest`);
      this.#stopFrozen(app);
    }
  }

  /**
   * After a connection to the app's runner broke mid-request (sent at `since`, a `Date.now()`
   * value): how the runner ended, or undefined when it still runs. A runner that ended is
   * marked inactive, so the next request starts it again. A backend that cannot tell is taken
   * to mean the runner died.
   */
  async runnerExit(app: string, since: number): Promise<(RunnerExit & { confirmed: boolean }) | undefined> {
    const backend = this.#options.backend;
    const exit = backend.runnerExit
      ? await backend.runnerExit(app, since).then((seen) => seen && { ...seen, confirmed: true })
      : { reason: `the connection to it broke mid-request (the ${backend.kind} backend cannot tell why)`, confirmed: false };
    if (exit) this.markInactive(app);
    return exit;
  }

  /** Forgets that the runner is up (it crashed or was replaced), so the next request counts as a cold start. */
  markInactive(app: string): void {
    this.#state(app).active = false;
  }

  forget(app: string): void {
    const state = this.#apps.get(app);
    clearTimeout(state?.idleTimer);
    clearTimeout(state?.frozenTimer);
    this.#apps.delete(app);
  }

  isActive(app: string): boolean {
    return this.#apps.get(app)?.active ?? false;
  }

  /** Some app is up, frozen, in a request, or being stopped or swapped. */
  holdsAnyApp(): boolean {
    for (const state of this.#apps.values()) if (state.active || state.frozen || state.inflight > 0 || state.gate !== undefined) return true;
    return false;
  }

  /**
   * Clears every timer and thaws the frozen apps, before the gateway closes its connections to
   * the runners (a frozen runner would never answer the close) and the next gateway, not
   * knowing them as frozen, sends them requests. The backend closes the runners.
   */
  close(): void {
    this.#closed = true;
    clearInterval(this.#pressureTimer);
    for (const [app, state] of this.#apps) {
      clearTimeout(state.idleTimer);
      clearTimeout(state.frozenTimer);
      if (!state.frozen) continue;
      try {
        this.#thaw(app, state, false);
      } catch (error) {
        console.error(`rustless: thawing ${app} failed: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Stops the app once it has been idle for its timeout. One timer per idle period rather than
   * one per request: when it fires early (requests came and went meanwhile) it waits out the rest.
   */
  #armIdleTimer(app: string, state: AppState, ms = state.idleTimeoutMs ?? this.#options.defaultIdleTimeoutMs): void {
    if (this.#closed || !state.active || state.idleTimer !== undefined) return;
    state.idleTimer = setTimeout(() => {
      state.idleTimer = undefined;
      if (state.inflight > 0 || !state.active || state.frozen) return;
      const rest = state.idleSince + (state.idleTimeoutMs ?? this.#options.defaultIdleTimeoutMs) - performance.now();
      if (rest > 1) return this.#armIdleTimer(app, state, rest);
      const warmTier = this.#options.backend.freeze !== undefined && (this.#options.frozenTimeoutMs ?? 0) > 0;
      (warmTier ? this.freeze(app) : this.stop(app)).catch((error: unknown) => console.error(`rustless: stopping idle app ${app} failed: ${String(error)}`));
    }, ms);
    state.idleTimer.unref();
  }

  #state(app: string): AppState {
    let state = this.#apps.get(app);
    if (!state) {
      state = {
        inflight: 0, active: false, socketPath: undefined, idleTimeoutMs: undefined, idleTimer: undefined, idleSince: 0,
        frozen: false, frozenAt: 0, frozenBytes: 0, frozenTimer: undefined, gate: undefined, drained: undefined, stats: new AppStats(),
      };
      this.#apps.set(app, state);
    }
    return state;
  }
}

/** One request's slot; `release` counts once, however often it is called. */
class AppLease implements Lease {
  readonly socketPath: string;
  readonly coldStart: boolean;
  readonly #lifecycle: AppLifecycle;
  readonly #app: string;
  readonly #state: AppState;
  /** Set for a lone request: lets the requests it held back in. */
  readonly #open: (() => void) | undefined;
  #released = false;

  constructor(lifecycle: AppLifecycle, app: string, state: AppState, socketPath: string, coldStart: boolean, open: (() => void) | undefined) {
    this.#lifecycle = lifecycle;
    this.#app = app;
    this.#state = state;
    this.#open = open;
    this.socketPath = socketPath;
    this.coldStart = coldStart;
  }

  release(outcome: { status: number; durationMs: number } | undefined): void {
    if (this.#released) return;
    this.#released = true;
    this.#lifecycle.leave(this.#app, this.#state, outcome, this.#open);
  }
}

/** How often the memory pressure is read while apps are frozen. */
const PRESSURE_CHECK_MS = 2_000;
/** The kernel's `avg10` window: after a stop for pressure, the next waits this long. */
const PRESSURE_WINDOW_MS = 10_000;

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
