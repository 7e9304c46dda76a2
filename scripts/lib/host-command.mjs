// Host commands for the test hosts (namespace and VM): run one, or run one that must succeed,
// and the one error type their failures carry (a stable code, as in src/errors.ts).
import { spawn } from 'node:child_process';

/** A string as one single-quoted sh word. */
export const shellQuote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

/** Where a test host's progress lines go by default. */
export const defaultLog = (msg) => process.stderr.write(`[testhost] ${msg}\n`);

/** Seconds since t0, one decimal, for those lines. */
export const secs = (t0) => ((Date.now() - t0) / 1000).toFixed(1);

export class TesthostError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'TesthostError';
    this.code = code;
  }
}

/** Run a host command; resolves {stdout, stderr, exitCode}; never rejects on a non-zero exit. */
export function sh(argv, { input, env, cwd, timeoutMs, stdio } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: env ?? process.env,
      cwd,
      stdio: stdio ?? ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    let timer;
    if (timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exitCode: code ?? 128 + (signal ? 9 : 0), signal });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(input ?? '');
    }
  });
}

export async function must(argv, opts) {
  const r = await sh(argv, opts);
  if (r.exitCode !== 0) {
    throw new TesthostError('TESTHOST_COMMAND_FAILED', `${argv.join(' ')} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  }
  return r;
}

