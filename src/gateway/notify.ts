/**
 * sd_notify for the gateway: READY, STATUS, WATCHDOG and STOPPING. Outside systemd (no
 * NOTIFY_SOCKET) every call is a no-op. Under systemd it uses, in this order:
 * - the systemd org's `sd-notify` binding, an optional dependency that `npm ci` skips when
 *   libsystemd-dev is missing (the order a new user installs things in);
 * - else `systemd-notify`, which every systemd host has. Node cannot send datagrams on unix
 *   sockets, so a small program must; systemd-notify waits until systemd has processed each
 *   message (a barrier), so the message is not lost when it exits at once. It is not the main
 *   pid, so systemd takes its messages only with NotifyAccess=all: rustless.service says
 *   `main`, and scripts/install.mjs adds `all` in a drop-in when it installs without the binding.
 * With neither, a gateway under Type=notify would sit in `activating` until systemd gives up:
 * it says so in one line at start instead.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { PACKAGE_ROOT } from '../version.js';

/** How to get the binding: `npm rebuild` cannot, since npm drops the whole package when its build fails. */
export const BINDING_FIX = `apt install libsystemd-dev, then node ${PACKAGE_ROOT}/scripts/sd-notify-binding.mjs`;

interface Channel {
  ready(): void;
  stopping(): void;
  watchdog(): void;
  status(text: string): void;
}

export type NotifyVia = 'sd-notify' | 'systemd-notify' | 'none';

export class Notifier {
  readonly #channel: Channel | undefined;
  readonly #watchdogMs: number;
  #watchdog: NodeJS.Timeout | undefined;
  #lastStatus: string | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.#watchdogMs = watchdogIntervalMs(env);
    if (!env.NOTIFY_SOCKET) return;
    const binding = loadBinding();
    const program = binding ? undefined : findSystemdNotify(env);
    this.#channel = binding ? bindingChannel(binding) : program ? programChannel(program) : undefined;
    if (program) console.error(`rustless: the sd-notify module is not built: notifying systemd through ${program} (needs NotifyAccess=all, which scripts/install.mjs sets when it installs without the binding)`);
    if (!this.#channel) {
      console.error(
        `rustless: NOTIFY_SOCKET is set (Type=notify) but this gateway cannot notify systemd: the sd-notify module is not built and systemd-notify is not on PATH; systemd will not see it ready (${BINDING_FIX})`,
      );
    }
  }

  get enabled(): boolean {
    return this.#channel !== undefined;
  }

  ready(): void {
    if (!this.#channel) return;
    this.#channel.ready();
    // WATCHDOG_USEC is set when the unit has WatchdogSec=; ping at half the interval.
    if (this.#watchdogMs > 0) {
      this.#watchdog = setInterval(() => this.#channel!.watchdog(), Math.max(500, Math.floor(this.#watchdogMs / 2)));
      this.#watchdog.unref();
    }
  }

  status(text: string): void {
    // Unchanged text is not sent again: with systemd-notify each message is a process.
    if (!this.#channel || text === this.#lastStatus) return;
    this.#lastStatus = text;
    this.#channel.status(text);
  }

  stopping(): void {
    clearInterval(this.#watchdog);
    this.#channel?.stopping();
  }
}

/** How a gateway started in `env` would notify systemd, for `rustless doctor` and install.mjs. */
export function notifyVia(env: NodeJS.ProcessEnv = process.env): { via: NotifyVia; detail: string } {
  if (loadBinding()) return { via: 'sd-notify', detail: 'the sd-notify binding' };
  const program = findSystemdNotify(env);
  if (program) return { via: 'systemd-notify', detail: `${program} (the sd-notify binding is not built; needs NotifyAccess=all)` };
  return { via: 'none', detail: 'neither the sd-notify binding nor systemd-notify is available' };
}

interface SdNotifyBinding {
  ready(): void;
  stopping(pid?: number): void;
  watchdog(): void;
  sendStatus(text: string): void;
}

function loadBinding(): SdNotifyBinding | undefined {
  try {
    return createRequire(import.meta.url)('sd-notify') as SdNotifyBinding;
  } catch {
    return undefined;
  }
}

function bindingChannel(sd: SdNotifyBinding): Channel {
  return {
    ready: () => sd.ready(),
    stopping: () => sd.stopping(process.pid),
    watchdog: () => sd.watchdog(),
    status: (text) => sd.sendStatus(text),
  };
}

function programChannel(program: string): Channel {
  const send = (...assignments: string[]): void => {
    // MAINPID names the gateway, whichever process the message comes from.
    execFile(program, [`--pid=${process.pid}`, ...assignments], (error) => {
      if (error) console.error(`rustless: ${program} ${assignments.join(' ')} failed: ${error.message.split('\n')[0]}`);
    });
  };
  return {
    ready: () => send('READY=1'),
    stopping: () => send('STOPPING=1'),
    watchdog: () => send('WATCHDOG=1'),
    status: (text) => send(`STATUS=${text}`),
  };
}

function findSystemdNotify(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const file = join(dir || '.', 'systemd-notify');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** WATCHDOG_USEC in ms when the watchdog is meant for this process (WATCHDOG_PID), else 0. */
function watchdogIntervalMs(env: NodeJS.ProcessEnv): number {
  const usec = Number(env.WATCHDOG_USEC ?? 0);
  const pid = Number(env.WATCHDOG_PID ?? 0);
  if (!Number.isFinite(usec) || usec <= 0 || (pid && pid !== process.pid)) return 0;
  return Math.floor(usec / 1000);
}
