/**
 * Runs cargo and turns its stderr into build output: progress from its progress bar, every
 * other line as is, and the compiler's errors as the message of a failed build. Both backends
 * use it (a lower piece than either): the local one runs the host's cargo, the systemd one
 * prefixes `systemd-run --pipe`.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { RustlessError } from '../errors.js';
import { explainBuildFailure, type FailureContext } from './build-failure.js';

/**
 * Environment that makes cargo's output parseable: a progress bar even without a terminal, of
 * a fixed width, no colour codes. A `systemd-run` prefix needs these as `--setenv`.
 */
export const CARGO_OUTPUT_ENV: Readonly<Record<string, string>> = {
  CARGO_TERM_PROGRESS_WHEN: 'always',
  CARGO_TERM_PROGRESS_WIDTH: '100',
  CARGO_TERM_COLOR: 'never',
};

/** Where cargo's lines and progress go (a backend's BuildOutput is one). */
export interface CargoOutput {
  line(text: string): void;
  /** cargo's bar (`done` of `total` units ready, fresh ones included) and the crates this build compiled so far. */
  progress(done: number, total: number, compiled: number): void;
}

/** At most this much of the compiler's output goes into a failed build's message. */
const MAX_ERROR_LINES = 200;
const MAX_ERROR_CHARS = 16_000;
/** A cancelled build gets SIGTERM, then SIGKILL if cargo is still there after this long. */
const FORCE_KILL_AFTER_MS = 5_000;

export interface RunCargoOptions {
  cwd: string;
  /** Added to the inherited environment (and to CARGO_OUTPUT_ENV). */
  env?: Record<string, string | undefined>;
  output: CargoOutput;
  signal?: AbortSignal;
  /** The program and leading arguments that run cargo; `[cargoCommand()]` by default. */
  command?: readonly string[];
  /** Run cargo as this user (no supplementary groups): a root gateway's builds do. */
  runAs?: { uid: number; gid: number } | undefined;
  /** What a failed build's advice needs to know (explainBuildFailure). */
  failure?: FailureContext;
}

/** Runs `cargo <args>`; rejects with RUSTLESS_BUILD_FAILED and the compiler's errors when it fails. */
export async function runCargo(args: readonly string[], { cwd, env, output, signal, command = [cargoCommand()], runAs, failure = {} }: RunCargoOptions): Promise<void> {
  const [file, ...prefix] = command;
  if (!file) throw new RustlessError('RUSTLESS_INTERNAL', 'runCargo: `command` must name a program, got an empty list');

  const collector = new ErrorCollector();
  // Crates compiled now, not found fresh (prebuilt dependencies count in the bar, not here);
  // cargo redraws its bar after each such line, which carries the count on.
  let compiled = 0;
  const onLine = (line: string): void => {
    const progress = parseCargoProgress(line);
    if (progress) return output.progress(progress.done, progress.total, compiled);
    if (/^\s*Compiling \S+ v/.test(line)) compiled++;
    collector.add(line);
    output.line(line);
  };

  // node's own spawn, not execa: execa stays in memory once loaded (16 MiB), and a gateway
  // that has built once would carry it while idle.
  const child = spawn(file, [...prefix, ...args], {
    cwd,
    env: { ...process.env, ...CARGO_OUTPUT_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let cancelled = false;
  let forceKill: NodeJS.Timeout | undefined;
  const cancel = (): void => {
    cancelled = true;
    child.kill('SIGTERM');
    forceKill = setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS);
  };
  if (signal?.aborted) cancel();
  else signal?.addEventListener('abort', cancel, { once: true });
  const [result] = await Promise.all([exited, forEachLine(child.stdout, onLine), forEachLine(child.stderr, onLine)]).finally(() => {
    signal?.removeEventListener('abort', cancel);
    clearTimeout(forceKill);
  });

  if (result.error) throw new RustlessError('RUSTLESS_BUILD_FAILED', `cannot run ${file} (${result.error.message})`, { details: { signal: null } });
  if (cancelled) throw new RustlessError('RUSTLESS_BUILD_FAILED', 'the build was cancelled', { details: { cancelled: true } });
  if (result.code === null) throw new RustlessError('RUSTLESS_BUILD_FAILED', `cargo was killed by ${result.signal}`, { details: { signal: result.signal } });
  if (result.code !== 0) {
    const message = collector.message(result.code);
    const hints = explainBuildFailure(collector.all(), failure);
    throw new RustlessError('RUSTLESS_BUILD_FAILED', [...hints, message].join('\n\n'), { details: { exitCode: result.code } });
  }
}

/** The `--config` flags for a list of `cargo --config` values. */
export function configFlags(values: readonly string[]): string[] {
  return values.flatMap((value) => ['--config', value]);
}

/** `Building [===>   ] 12/40: serde, ...` as numbers, or undefined for any other line. */
export function parseCargoProgress(line: string): { done: number; total: number } | undefined {
  const match = /^\s*Building \[[=> ]*\] (\d+)\/(\d+)(?::|$)/.exec(line);
  if (!match) return undefined;
  return { done: Number(match[1]), total: Number(match[2]) };
}

/** The cargo to run: the one on PATH, else `$CARGO`, else rustup's `~/.cargo/bin/cargo`. */
export function cargoCommand(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'cargo'))) return join(dir, 'cargo');
  }
  if (process.env.CARGO && isExecutable(process.env.CARGO)) return process.env.CARGO;
  const rustup = join(homedir(), '.cargo', 'bin', 'cargo');
  if (isExecutable(rustup)) return rustup;
  // Nothing found: running plain `cargo` fails with an ENOENT that says what was missing.
  return 'cargo';
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Keeps what a failed build's message needs: the lines from the first `error` on (warnings
 * before it are noise for someone fixing the build), and the tail in case no line says `error`.
 */
class ErrorCollector {
  #errors: string[] = [];
  #tail: string[] = [];

  /** Every error line and the tail: what the advice reads. */
  all(): string {
    return [...this.#errors, ...this.#tail].join('\n');
  }

  add(line: string): void {
    if (this.#errors.length > 0 || /^error(\[E\d+\])?:/.test(line)) {
      if (this.#errors.length < MAX_ERROR_LINES) this.#errors.push(line);
    }
    this.#tail.push(line);
    if (this.#tail.length > 30) this.#tail.shift();
  }

  message(exitCode: number): string {
    const lines = this.#errors.length > 0 ? this.#errors : this.#tail;
    const kept = trimBlank(lines.filter((line) => !/^warning: build failed, waiting for other jobs to finish/.test(line)));
    let text = kept.join('\n');
    if (text.length > MAX_ERROR_CHARS) text = `${text.slice(0, MAX_ERROR_CHARS)}\n... (cut; the build log has the rest)`;
    return text || `cargo exited with code ${exitCode} and no output`;
  }
}

function trimBlank(lines: string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start]!.trim() === '') start++;
  while (end > start && lines[end - 1]!.trim() === '') end--;
  return lines.slice(start, end);
}

/**
 * Calls `onLine` for each line of `stream`, split on `\n` and on `\r` (the progress bar redraws
 * itself with `\r`); blank lines and trailing spaces, which only erase the bar, are dropped.
 */
function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const emit = (text: string): void => {
    const parts = (pending + text).split(/\r\n|\r|\n/);
    pending = parts.pop() ?? '';
    for (const part of parts) {
      const line = part.trimEnd();
      if (line !== '') onLine(line);
    }
  };
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => emit(decoder.write(chunk)));
    stream.on('end', () => {
      emit(decoder.end());
      const line = pending.trimEnd();
      if (line !== '') onLine(line);
      pending = '';
      resolve();
    });
    stream.on('error', reject);
  });
}
