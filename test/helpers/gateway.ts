/**
 * Starts a real gateway process (the built CLI, `node dist/cli/main.js gateway`) on real
 * sockets for a test, and runs real CLI commands against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { Agent, request } from 'undici';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const EXAMPLES = join(ROOT, 'runner', 'examples');
/** Shared by every test gateway, so dependencies compile once per machine, not once per test. */
export const CARGO_CACHE = join(tmpdir(), 'rustless-test-cargo-cache');

export interface TestGateway {
  url: string;
  adminSocket: string;
  stateDir: string;
  process: ChildProcess;
  output: string[];
  cli(args: string[], options?: { reject?: boolean; input?: string }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  send(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  deploy(dir: string): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** One app as the admin API reports it, asked over the admin socket (quicker than the CLI). */
  app(name: string): Promise<any>;
  /** Stops the gateway (SIGTERM: it drains; SIGKILL: a crash) and removes its state dir unless it was given. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

/** `stateDir`: the caller's, kept after `stop()` (a restart on the same state, a state dir on a small filesystem). */
export async function startGateway(options: { idleTimeoutS?: number; args?: string[]; stateDir?: string } = {}): Promise<TestGateway> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'rustless-test-')));
  const adminSocket = join(stateDir, 'admin.sock');
  const args = [CLI, 'gateway', '--backend', 'local', '--port', '0', '--listen', '127.0.0.1', '--state-dir', stateDir, '--cache-dir', CARGO_CACHE];
  if (options.idleTimeoutS !== undefined) args.push('--idle-timeout', String(options.idleTimeoutS));
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      output.push(line);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolveUrl(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening:\n${output.join('\n')}`)));
  });

  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => sendRequest(url, method, path, body, headers);

  const gateway: TestGateway = {
    url,
    adminSocket,
    stateDir,
    process: child,
    output,
    async cli(cliArgs, { reject = false, input } = {}) {
      const result = await execa(process.execPath, [CLI, ...cliArgs, '--host', adminSocket], { reject, ...(input === undefined ? {} : { input }) });
      return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    get: (path, headers) => send('GET', path, undefined, headers),
    send,
    deploy: (dir) => gateway.cli(['deploy', dir]),
    async app(name) {
      const response = await request(`http://admin/v1/apps/${name}`, { dispatcher: new Agent({ connect: { socketPath: adminSocket } }) });
      return ((await response.body.json()) as { app: unknown }).app;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) {
        child.kill(signal);
        await new Promise((done) => child.once('exit', done));
      }
      if (options.stateDir === undefined) await rm(stateDir, { recursive: true, force: true });
    },
  };
  return gateway;
}

/** One request to `base + path`; a body that is not a string or Buffer is sent as JSON. */
export async function sendRequest(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const payload = body === undefined ? null : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const hdrs = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body) ? { 'content-type': 'application/json', ...headers } : headers;
  const response = await request(base + path, { method: method as 'GET', body: payload, headers: hdrs });
  const text = await response.body.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.statusCode, headers: response.headers, body: parsed, text };
}

/** Polls `check` until it returns true, failing after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
