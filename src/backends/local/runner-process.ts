/**
 * One running runner: a child process that took its listening socket as fd 3 (LISTEN_FDS),
 * its output captured line by line, and a graceful stop (SIGTERM, then SIGKILL after a grace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createListeningSocket } from './listening-socket.js';
import type { LogRing } from './log-ring.js';
import type { RunAs } from './run-as.js';

const STOP_GRACE_MS = 10_000;

/** The gateway's environment minus what belongs to the gateway's own service manager (and, as another user, root's home). */
function runnerEnv(app: string, runAs: RunAs | undefined): NodeJS.ProcessEnv {
  const { NOTIFY_SOCKET: _notify, WATCHDOG_USEC: _usec, WATCHDOG_PID: _pid, ...env } = process.env;
  const home = runAs ? { HOME: '/nonexistent', USER: runAs.user, LOGNAME: runAs.user } : {};
  return { ...env, ...home, LISTEN_FDS: '1', LISTEN_FDNAMES: app, RUSTLESS_APP: app };
}

export class RunnerProcess {
  readonly exited: Promise<void>;
  #child: ChildProcess;
  #alive = true;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => (this.#alive = false));
  }

  static async start(app: string, binaryPath: string, socketPath: string, log: LogRing, runAs?: RunAs): Promise<RunnerProcess> {
    const socket = await createListeningSocket(socketPath);
    let child: ChildProcess;
    try {
      // LISTEN_PID must be the runner's own pid, which only exists after the fork: a shell
      // exports its own pid and then execs the runner, keeping that pid.
      child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0"', binaryPath], {
        stdio: ['ignore', 'pipe', 'pipe', socket.fd],
        env: runnerEnv(app, runAs),
        // As another user: no supplementary groups (libuv drops them), and no cwd of root's.
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid, cwd: '/' } : {}),
      });
    } finally {
      await socket.close();
    }
    const runner = new RunnerProcess(child);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => log.push(line));
    }
    child.once('exit', (code, signal) => log.push(`rustless: runner of ${app} exited (${signal ?? `code ${code}`})`));
    child.once('error', (error) => log.push(`rustless: runner of ${app} failed to start: ${error.message}`));
    return runner;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#alive;
  }

  async stop(): Promise<void> {
    if (!this.#alive) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
