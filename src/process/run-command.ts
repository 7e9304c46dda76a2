/**
 * Short commands the gateway runs (systemctl, journalctl, logger, getent, ...) on node's own
 * child_process, not execa: importing execa costs a process about 8 MiB of RSS for as long as
 * it lives (measured: an idle node 42.7 MiB, with execa imported 51.9 MiB; node:child_process
 * alone 43.5), and the gateway lives for weeks on a 1 GiB Pi whose goal for it is 60 MiB.
 * The CLI and the tests, which exit, still use execa.
 */
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface CommandOptions {
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's stdin, which is then closed; without it stdin is empty. */
  input?: string;
}

export interface CommandResult {
  /** The exit code; 127 when the command could not be run at all, null when a signal ended it. */
  exitCode: number | null;
  /** Its stdout, without the final newline. */
  stdout: string;
  /** Its stderr (without the final newline), or why it could not be run. */
  stderr: string;
}

/** journalctl -o json of a busy unit runs to megabytes; execFile's 1 MiB default would cut it. */
const MAX_BUFFER = 64 * 1024 * 1024;

/** Runs `file ARGS` to its end and gives its exit code and output; never throws. */
export function runCommand(file: string, args: readonly string[], { input, ...options }: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { ...options, encoding: 'utf8', maxBuffer: MAX_BUFFER }, (error, out, err) => {
      const [stdout, stderr] = [chomp(out), chomp(err)];
      if (!error) return resolve({ exitCode: 0, stdout, stderr });
      const code = (error as NodeJS.ErrnoException & { code?: unknown }).code;
      if (typeof code === 'number') return resolve({ exitCode: code, stdout, stderr });
      // A signal (killed, or maxBuffer passed), or no such program (ENOENT: spawn failed).
      if (child.pid === undefined) return resolve({ exitCode: 127, stdout, stderr: stderr || error.message });
      resolve({ exitCode: null, stdout, stderr: stderr || error.message });
    });
    // An EPIPE from a command that exits without reading its stdin is its business, not a crash.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/**
 * Runs `file ARGS` and yields its stdout line by line as it comes, until it exits or `signal`
 * aborts (which kills it); then returns how it ended, with its stderr.
 */
export async function* commandLines(file: string, args: readonly string[], { signal }: { signal?: AbortSignal } = {}): AsyncGenerator<string, CommandResult> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < MAX_BUFFER) stderr += chunk;
  });
  const ended = new Promise<CommandResult>((resolve) => {
    child.once('error', (error) => resolve({ exitCode: 127, stdout: '', stderr: error.message }));
    child.once('close', (code) => resolve({ exitCode: code, stdout: '', stderr: chomp(stderr) }));
  });
  const kill = (): void => void child.kill();
  if (signal?.aborted) kill();
  else signal?.addEventListener('abort', kill, { once: true });
  try {
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) yield line;
  } finally {
    signal?.removeEventListener('abort', kill);
    // A consumer that stopped early (a `break`) leaves it running: it is not wanted any more.
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
  return ended;
}

function chomp(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}
