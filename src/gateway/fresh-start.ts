/**
 * After builds, a quiet gateway under systemd restarts itself, to give back the memory they grew.
 *
 * A deploy leaves the gateway a few MiB bigger for good: V8's heap grows by the code and shapes
 * the deploy ran, glibc's heap by what it freed in pieces, and neither returns pages to an idle
 * process (in the 1 GiB arm64 VM, 57.8 MiB new and idle, 62.7 a minute after three deploys;
 * docs/raspberry-pi.md). A new process is the one way to get them back. Under systemd it loses
 * nothing: the listening sockets are systemd's, so a connection made while the gateway restarts
 * waits in the socket's queue for the next one, as in any `systemctl restart rustless`.
 *
 * Only when nothing would notice: no build queued or running, no app running or frozen (a new
 * gateway would not know them, and the warm tier would not stop them), no request or stream
 * open, and none for `quietMs`.
 */
export interface FreshStartOptions {
  /** How long everything must have been quiet since the last build and the last request. */
  quietMs: number;
  /** Something keeps this process: a build, an app up or frozen, a request or a log stream. */
  busy(): boolean;
  /** When the last request came or ended (`Date.now()`), on any listener. */
  lastRequestAt(): number;
  /** Asks systemd for the restart (it then stops this process as `systemctl restart` does). */
  restart(): Promise<void>;
  /** What the gateway holds now, for the log line (RSS and its own part, in bytes). */
  memory(): { rss: number; own: number | undefined };
}

export class FreshStart {
  readonly #options: FreshStartOptions;
  #builds = 0;
  #lastBuildAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #restarting = false;

  constructor(options: FreshStartOptions) {
    this.#options = options;
  }

  /** A build ended (either way): the gateway restarts once quiet for `quietMs` after it. */
  buildFinished(): void {
    this.#builds++;
    this.#lastBuildAt = Date.now();
    this.#schedule(this.#options.quietMs);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#restarting) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#check(), ms);
    // Never what keeps the process alive.
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    const { quietMs } = this.#options;
    const quietSince = Math.max(this.#lastBuildAt, this.#options.lastRequestAt());
    const rest = quietSince + quietMs - Date.now();
    // Busy now, or quiet for less than `quietMs`: look again later (an app up waits for the warm
    // tier to stop it, which can take its frozen timeout).
    if (this.#options.busy() || rest > 0) return this.#schedule(Math.max(rest, Math.min(quietMs, 10_000)));
    this.#restarting = true;
    const { rss, own } = this.#options.memory();
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
    console.error(
      `rustless: restarting the gateway, quiet for ${Math.round(quietMs / 1000)} s after ${this.#builds} build${this.#builds === 1 ? '' : 's'}, ` +
        `to give back the memory they grew (RSS ${mib(rss)} MiB${own === undefined ? '' : `, ${mib(own)} MiB of it its own`}); systemd keeps the sockets, ` +
        'so requests wait for the next gateway (--restart-after-builds 0 turns this off)',
    );
    this.#options.restart().catch((error: unknown) => {
      // It keeps serving as it is; the next build tries again.
      this.#restarting = false;
      console.error(`rustless: the gateway could not restart itself: ${(error as Error).message}`);
    });
  }
}
