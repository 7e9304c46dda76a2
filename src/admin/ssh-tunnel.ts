/**
 * The admin socket of a remote gateway, reached through the user's own `ssh` (so their
 * ~/.ssh/config, agent and known_hosts apply), the way Podman's `ssh://` connections work:
 * `ssh -N -L LOCAL.sock:REMOTE.sock` forwards a private local unix socket (in a 0700 directory
 * of ours) to the remote admin socket. Nothing listens on the network on either side.
 * `RUSTLESS_SSH_COMMAND` (like git's GIT_SSH_COMMAND: words split on spaces) replaces `ssh`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RustlessError } from '../errors.js';

export interface SshTarget {
  /** `user@host` or `host`, as ssh takes it. */
  destination: string;
  port?: number | undefined;
  /** The admin socket on the remote machine. */
  socketPath: string;
  /** `ssh://...` as the user wrote it, for messages. */
  url: string;
}

const READY_TIMEOUT_MS = 20_000;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export class SshTunnel {
  readonly localSocket: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #stderr: string[];
  #closed = false;

  private constructor(child: ChildProcess, dir: string, localSocket: string, stderr: string[]) {
    this.#child = child;
    this.#dir = dir;
    this.localSocket = localSocket;
    this.#stderr = stderr;
  }

  /** Starts ssh and resolves once the local socket exists; rejects with ssh's own words if it fails. */
  static async open(target: SshTarget, env: NodeJS.ProcessEnv = process.env): Promise<SshTunnel> {
    const dir = await mkdtemp(join(tmpdir(), 'rustless-ssh-'));
    const localSocket = join(dir, 'admin.sock');
    const [command, ...prefix] = sshCommand(env);
    const args = [
      ...prefix,
      // No password or host-key prompts in the middle of a TUI: keys and known hosts, or a clear failure.
      '-o', 'BatchMode=yes',
      '-o', 'ExitOnForwardFailure=yes',
      '-o', 'StreamLocalBindUnlink=yes',
      '-N',
      '-L', `${localSocket}:${target.socketPath}`,
      ...(target.port ? ['-p', String(target.port)] : []),
      '--',
      target.destination,
    ];
    const stderr: string[] = [];
    const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.trim()) stderr.push(line.trim());
    });
    const tunnel = new SshTunnel(child, dir, localSocket, stderr);
    tunnel.#dieWithParent();
    try {
      await waitForSocket(child, localSocket, target, stderr, command!);
    } catch (error) {
      await tunnel.close();
      throw error;
    }
    return tunnel;
  }

  /**
   * What ssh said last, for error messages. A refused forward (no such socket over there) shows
   * only here, a moment after the local connection already failed, so this waits up to
   * `waitMs` for ssh to say something new.
   */
  async diagnostics(waitMs = 1000): Promise<string> {
    const seen = this.#stderr.length;
    const deadline = Date.now() + waitMs;
    while (this.#stderr.length === seen && Date.now() < deadline && this.#child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
    return this.#stderr.slice(-3).join('; ');
  }

  /**
   * ssh and our socket directory must not outlive this process, however it ends (a killed
   * `rustless logs -f`, say). Synchronous: on a signal the process ends right after, leaving
   * the dead ssh to init to reap (not waiting for it, which would let the broken connection
   * print an error first).
   */
  #dieWithParent(): void {
    const kill = (): void => {
      this.#child.kill('SIGTERM');
      rmSync(this.#dir, { recursive: true, force: true });
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      kill();
      for (const name of SIGNALS) process.removeListener(name, onSignal);
      // Nobody else handles it: end the way the signal would have ended us.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once('exit', kill);
    for (const name of SIGNALS) process.on(name, onSignal);
    this.#child.once('exit', () => {
      process.removeListener('exit', kill);
      for (const name of SIGNALS) process.removeListener(name, onSignal);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise((done) => this.#child.once('exit', done));
      this.#child.kill('SIGTERM');
      await exited;
    }
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** `ssh`, or RUSTLESS_SSH_COMMAND split into words. */
function sshCommand(env: NodeJS.ProcessEnv): string[] {
  return (env.RUSTLESS_SSH_COMMAND?.trim() || 'ssh').split(/\s+/);
}

/**
 * The host name ssh connects to for `target`, after the user's ~/.ssh/config (`Host pi` with
 * `HostName raspberrypi.local` gives the latter), as `ssh -G` reports it; undefined if ssh
 * cannot say. Connects nowhere.
 */
export function sshHostname(target: SshTarget, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const [command, ...prefix] = sshCommand(env);
  const args = [...prefix, '-G', ...(target.port ? ['-p', String(target.port)] : []), '--', target.destination];
  return new Promise((resolve) => {
    execFile(command!, args, { timeout: 5000 }, (error, stdout) => resolve(error ? undefined : /^hostname (\S+)$/m.exec(stdout)?.[1]));
  });
}

function waitForSocket(child: ChildProcess, path: string, target: SshTarget, stderr: string[], command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      clearInterval(poll);
      clearTimeout(timer);
      const said = stderr.length ? `: ${stderr.slice(-3).join('; ')}` : '';
      reject(new RustlessError('RUSTLESS_HOST_NOT_FOUND', `cannot reach ${target.url} through ssh (${why})${said}`));
    };
    child.once('error', (error) => fail(`cannot run ${command}: ${error.message}`));
    // `close`, not `exit`: by then ssh's last words (Host key verification failed.) are read.
    child.once('close', (code, signal) => fail(`ssh exited with ${signal ?? `code ${code}`}`));
    const timer = setTimeout(() => fail(`no connection within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    const poll = setInterval(() => {
      stat(path).then(
        (info) => {
          if (!info.isSocket()) return;
          clearInterval(poll);
          clearTimeout(timer);
          child.removeAllListeners('close');
          child.removeAllListeners('error');
          resolve();
        },
        () => undefined,
      );
    }, 50);
  });
}
