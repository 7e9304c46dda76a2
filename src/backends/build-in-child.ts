/**
 * A build in a child process of its own: both ends of it. The gateway lives for months on a
 * machine with 1 GiB: what a build's JavaScript (running cargo in a sandbox, reading its output,
 * podman's image build) compiles and allocates is the child's, and goes back to the system when
 * the build ends; a bug in it ends the build, not the gateway. (What that saves the gateway
 * after deploys was within a run's noise on the arm64 VM, 62.2 against 62.8 MiB: the code is
 * small, docs/raspberry-pi.md says where the rest goes.)
 *
 * The parent (`buildInChild`) forks an entry module that calls `serveBuild` with the backend's
 * build function. Over the IPC channel go the job, then the build's lines and progress, then
 * the artifact or the error; a cancelled build is a `cancel` message, so the child's own build
 * code stops what it started (a transient unit, say) as it would in the gateway. A child whose
 * gateway goes away cancels its build too. A child still there CANCEL_GRACE_MS after a cancel
 * is killed, so that a stop that hangs cannot hold `rustless rm` or the build queue for ever.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '../cargo/jobs.js';
import { RustlessError, type ErrorCode } from '../errors.js';
import { ownMemoryBytes } from '../process/own-memory.js';
import type { BuildArtifact, BuildJob, BuildOutput } from './backend.js';

/** The start of the build log's line on the build process's own peak memory (scripts/bench-pi.mjs reads it). */
const PEAK_LINE = 'peak memory of the build process';

/**
 * How long a cancelled build's process may take to stop what it started before it is killed:
 * `systemctl stop` of its sandbox unit returns within systemd's 90 s stop timeout (SIGTERM,
 * then SIGKILL to what is left), and the unit's stop goes on in systemd if its client is killed.
 */
export const CANCEL_GRACE_MS = 120_000;

/** What a build function in the child gets: the job, its output, and the backend's options with the cancel signal. */
export type ChildBuild<Options> = (job: BuildJob, output: BuildOutput, options: Options & { signal: AbortSignal }) => Promise<BuildArtifact>;

type ToChild<Options> = { type: 'build'; job: Omit<BuildJob, 'signal'>; options: Options } | { type: 'cancel' };

type FromChild =
  | { type: 'line'; text: string }
  | { type: 'progress'; done: number; total: number; compiled: number }
  | { type: 'succeeded'; artifact: BuildArtifact }
  | { type: 'failed'; error: SentError };

/** An error as it crosses the channel: structured clone keeps an Error's message, not its code. */
interface SentError {
  message: string;
  /** A RustlessError's code, or Node's (`ENOSPC`), which the builder looks at. */
  code?: string;
  rustless: boolean;
  details?: Record<string, unknown>;
}

/**
 * Runs `job` through the build function the module `entry` serves, in a child process, and
 * settles once the child has exited (so its memory is back before the build is activated).
 * `options` must survive structured cloning.
 */
export function buildInChild<Options>(entry: URL, job: BuildJob, output: BuildOutput, options: Options, { cancelGraceMs = CANCEL_GRACE_MS } = {}): Promise<BuildArtifact> {
  const { signal, ...plain } = job;
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(entry), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let outcome: { artifact: BuildArtifact } | { error: Error } | undefined;
    const send = (message: ToChild<Options>): void => {
      // A child that already exited has nothing left to cancel.
      if (child.connected) child.send(message, () => {});
    };
    let killTimer: NodeJS.Timeout | undefined;
    const cancel = (): void => {
      send({ type: 'cancel' });
      killTimer ??= setTimeout(() => {
        outcome ??= { error: new RustlessError('RUSTLESS_BUILD_FAILED', `the build was cancelled; its process had not stopped ${cancelGraceMs / 1000} s later, and was killed`) };
        child.kill('SIGKILL');
      }, cancelGraceMs);
    };
    child.on('message', (message: FromChild) => {
      switch (message.type) {
        case 'line':
          output.line(message.text);
          break;
        case 'progress':
          output.progress(message.done, message.total, message.compiled);
          break;
        case 'succeeded':
          outcome = { artifact: message.artifact };
          break;
        case 'failed':
          outcome = { error: receivedError(message.error) };
          break;
      }
    });
    const settle = (how: string): void => {
      signal?.removeEventListener('abort', cancel);
      clearTimeout(killTimer);
      if (outcome && 'artifact' in outcome) resolve(outcome.artifact);
      else if (outcome) reject(outcome.error);
      else reject(new RustlessError('RUSTLESS_BUILD_FAILED', `the build process ${how} before the build ended; the gateway's log may say why`));
    };
    child.on('error', (error) => {
      outcome ??= { error: new RustlessError('RUSTLESS_BACKEND_FAILED', `could not start the build process: ${error.message}`, { cause: error }) };
      // A process that never started (no memory, no more processes) has no exit to wait for.
      if (child.pid === undefined) settle('never started');
    });
    child.on('exit', (code, exitSignal) => settle(exitSignal ? `was killed by ${exitSignal}` : `exited with code ${code}`));
    send({ type: 'build', job: plain, options });
    if (signal?.aborted) cancel();
    else signal?.addEventListener('abort', cancel, { once: true });
  });
}

/** The child's end: runs the build the parent sends with `build`, reports, and exits. */
export function serveBuild<Options>(build: ChildBuild<Options>): void {
  const controller = new AbortController();
  // The gateway went away (stopped, killed): the build is nobody's any more.
  process.on('disconnect', () => controller.abort());
  process.on('message', (message: ToChild<Options>) => {
    if (message.type === 'cancel') {
      controller.abort();
      return;
    }
    const { signal } = controller;
    const output: BuildOutput = {
      line: (text) => report({ type: 'line', text }),
      progress: (done, total, compiled) => report({ type: 'progress', done, total, compiled }),
    };
    void build({ ...message.job, signal }, output, { ...message.options, signal })
      .then(
        (artifact): FromChild => ({ type: 'succeeded', artifact }),
        (error: unknown): FromChild => ({ type: 'failed', error: sentError(error) }),
      )
      .then((result) => {
        // What the build cost beyond its compilers, which the sandbox's peak line counts.
        output.line(`rustless: ${PEAK_LINE} ${formatBytes(process.resourceUsage().maxRSS * 1024)}${ownMemory()} (node, outside the sandbox; it exits with the build)`);
        finish(result);
      });
  });
}

/** Most of a node's RSS is node's own file pages, shared with the gateway: what is this process's alone, at its end. */
function ownMemory(): string {
  const bytes = ownMemoryBytes();
  return bytes === undefined ? '' : `, ${formatBytes(bytes)} of it its own`;
}

function report(message: FromChild): void {
  if (process.connected) process.send!(message, () => {});
}

/** Exits once the last message is out: whatever the build left running (a timer, a pipe) must not keep the child. */
function finish(message: FromChild): void {
  if (process.connected) process.send!(message, () => process.exit(0));
  else process.exit(1);
}

function sentError(error: unknown): SentError {
  if (error instanceof RustlessError) return { message: error.message, code: error.code, rustless: true, ...(error.details ? { details: error.details } : {}) };
  const code = (error as { code?: unknown } | undefined)?.code;
  return { message: error instanceof Error ? error.message : String(error), rustless: false, ...(typeof code === 'string' ? { code } : {}) };
}

function receivedError(sent: SentError): Error {
  if (sent.rustless) return new RustlessError(sent.code as ErrorCode, sent.message, sent.details ? { details: sent.details } : {});
  return Object.assign(new Error(sent.message), sent.code === undefined ? {} : { code: sent.code });
}
