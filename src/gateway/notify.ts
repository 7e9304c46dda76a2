/**
 * sd_notify for the gateway: READY, STATUS, WATCHDOG and STOPPING, through the systemd org's
 * `sd-notify` binding. It is an optional dependency (it needs libsystemd to build); without it,
 * or outside systemd, every call is a no-op.
 */
import { createRequire } from 'node:module';

interface SdNotify {
  ready(): void;
  stopping(pid?: number): void;
  watchdog(): void;
  sendStatus(text: string): void;
  watchdogInterval(): number;
}

export class Notifier {
  readonly #sd: SdNotify | undefined;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.#sd = env.NOTIFY_SOCKET ? loadSdNotify() : undefined;
  }

  get enabled(): boolean {
    return this.#sd !== undefined;
  }

  ready(): void {
    if (!this.#sd) return;
    this.#sd.ready();
    // WATCHDOG_USEC is set when the unit has WatchdogSec=; ping at half the interval.
    const intervalMs = this.#sd.watchdogInterval();
    if (intervalMs > 0) {
      this.#watchdog = setInterval(() => this.#sd!.watchdog(), Math.max(500, Math.floor(intervalMs / 2)));
      this.#watchdog.unref();
    }
  }

  status(text: string): void {
    this.#sd?.sendStatus(text);
  }

  stopping(): void {
    clearInterval(this.#watchdog);
    this.#sd?.stopping(process.pid);
  }
}

function loadSdNotify(): SdNotify | undefined {
  try {
    return createRequire(import.meta.url)('sd-notify') as SdNotify;
  } catch {
    console.error('rustless: NOTIFY_SOCKET is set but the sd-notify module is not installed; install libsystemd-dev and run npm install');
    return undefined;
  }
}
