/**
 * One running runner: a child process that took its listening socket as fd 3 (LISTEN_FDS),
 * its output captured line by line, and a graceful stop (SIGTERM, then SIGKILL after a grace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createListeningSocket } from './listening-socket.js';
import type { LogRing } from './log-ring.js';

const STOP_GRACE_MS = 10_000;

/** What a runner is told at start besides its socket: the app's settings and where its secrets and data are. */
export interface RunnerConfig {
  /** `[env]` from rustless.toml. */
  env: Record<string, string>;
  /** A directory with one file per secret, readable by the runner only. */
  secretsDir: string;
  /** The app's data directory, when it asked for one. */
  dataDir: string | undefined;
}

/** Of the gateway's environment, only what makes a process behave: never its tokens or its service manager's variables. */
const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'RUST_BACKTRACE'];

function runnerEnv(app: string, config: RunnerConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of INHERITED) if (process.env[name] !== undefined) env[name] = process.env[name];
  Object.assign(env, config.env, { LISTEN_FDS: '1', LISTEN_FDNAMES: app, RUSTLESS_APP: app, RUSTLESS_SECRETS_DIR: config.secretsDir });
  if (config.dataDir) env.RUSTLESS_DATA_DIR = config.dataDir;
  return env;
}

/** When and how a runner process ended. */
export interface ProcessEnd {
  /** `Date.now()` when the exit was seen. */
  at: number;
  reason: string;
}

export class RunnerProcess {
  readonly exited: Promise<void>;
  #child: ChildProcess;
  #alive = true;
  #ended: ProcessEnd | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      this.#alive = false;
      this.#ended = { at: Date.now(), reason: signal ? `it was killed by ${signal}` : `it exited with code ${code}` };
    });
  }

  static async start(app: string, binaryPath: string, socketPath: string, log: LogRing, config: RunnerConfig): Promise<RunnerProcess> {
    const socket = await createListeningSocket(socketPath);
    let child: ChildProcess;
    try {
      // LISTEN_PID must be the runner's own pid, which only exists after the fork: a shell
      // exports its own pid and then execs the runner, keeping that pid.
      child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0"', binaryPath], {
        stdio: ['ignore', 'pipe', 'pipe', socket.fd],
        env: runnerEnv(app, config),
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

  /** Undefined while the process runs. */
  get ended(): ProcessEnd | undefined {
    return this.#ended;
  }

  async stop(): Promise<void> {
    if (!this.#alive) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
