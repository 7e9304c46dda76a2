/**
 * How the CLI and the TUI find their gateway, in this order: `--host`, `RUSTLESS_HOST`, the
 * user's config file, the local admin socket (system, then per-user), then DNS-SD on the local
 * network. When none answers, the error lists every place tried and why it failed.
 */
import { connect } from 'node:net';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HostSpec } from '../admin/admin-client.js';
import { RustlessError } from '../errors.js';
import type { DiscoveredHost } from './dns-sd.js';

export const SYSTEM_ADMIN_SOCKET = '/run/rustless/admin.sock';
export const DEFAULT_BROWSE_TIMEOUT_MS = 1500;

export interface FindHostOptions {
  /** `--host`: an `http://host:port` URL or an admin socket path. */
  host?: string;
  /** `--token`: bearer token for a TCP admin listener. */
  token?: string;
  env?: NodeJS.ProcessEnv;
  browseTimeoutMs?: number;
  /** The system admin socket; tests point it elsewhere. */
  systemSocket?: string;
  /** DNS-SD browse; tests replace it. */
  browse?: (options: { timeoutMs: number }) => Promise<DiscoveredHost[]>;
}

export interface FoundHost {
  host: HostSpec;
  /** Where it came from, for the user: `--host`, `RUSTLESS_HOST`, `config file ~/.config/...`. */
  via: string;
}

interface UserConfig {
  host?: string;
  token?: string;
}

/** The local backend's state dir for root: outside root's 0700 home, so the unprivileged function user can reach its own data. */
export const ROOT_LOCAL_STATE_DIR = '/var/lib/rustless-local';

/**
 * The local backend's default state dir: `$XDG_STATE_HOME/rustless`, else for root
 * /var/lib/rustless-local, else `~/.local/state/rustless`.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? -1): string {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'rustless');
  return uid === 0 ? ROOT_LOCAL_STATE_DIR : join(home(env), '.local', 'state', 'rustless');
}

/** `$XDG_CONFIG_HOME/rustless/config.json`, or `~/.config/rustless/config.json`. */
export function userConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(home(env), '.config');
  return join(base, 'rustless', 'config.json');
}

export async function findHost(options: FindHostOptions = {}): Promise<FoundHost> {
  const env = options.env ?? process.env;
  const tried: string[] = [];
  const configFile = userConfigFile(env);
  const config = await readConfig(configFile);
  const token = options.token ?? nonEmpty(env.RUSTLESS_TOKEN) ?? config.value?.token;

  if (options.host !== undefined) return { host: parseHost(options.host, token, '--host'), via: '--host' };
  tried.push('--host: not given');

  const fromEnv = nonEmpty(env.RUSTLESS_HOST);
  if (fromEnv !== undefined) return { host: parseHost(fromEnv, token, 'RUSTLESS_HOST'), via: 'RUSTLESS_HOST' };
  tried.push('RUSTLESS_HOST: not set');

  if (config.value?.host !== undefined) {
    return { host: parseHost(config.value.host, token, `${configFile} (host)`), via: `config file ${configFile}` };
  }
  tried.push(`config file ${configFile}: ${config.problem ?? 'has no "host"'}`);

  for (const path of [options.systemSocket ?? SYSTEM_ADMIN_SOCKET, join(defaultStateDir(env), 'admin.sock')]) {
    const problem = await probeSocket(path);
    if (problem === undefined) return { host: { kind: 'socket', path }, via: `admin socket ${path}` };
    tried.push(`admin socket ${path}: ${problem}`);
  }

  const timeoutMs = options.browseTimeoutMs ?? DEFAULT_BROWSE_TIMEOUT_MS;
  try {
    // mDNS loads only when it is needed: the gateway imports this module for its state dir.
    const browse = options.browse ?? (await import('./dns-sd.js')).browse;
    const found = await browse({ timeoutMs });
    const first = found[0];
    // With a token the TCP listener serves; otherwise ssh:// to the same machine, as the user.
    if (first?.url && token) return { host: { kind: 'url', url: first.url, token }, via: `DNS-SD _rustless._tcp (${first.name})` };
    if (first) return { host: parseHost(first.ssh, token, 'DNS-SD'), via: `DNS-SD _rustless._tcp (${first.name}, ${first.ssh})` };
    tried.push(`DNS-SD _rustless._tcp on the local network: no answer within ${timeoutMs} ms`);
  } catch (error) {
    tried.push(`DNS-SD _rustless._tcp on the local network: ${(error as Error).message}`);
  }

  throw new RustlessError(
    'RUSTLESS_HOST_NOT_FOUND',
    ['no rustless gateway found; tried, in order:', ...tried.map((line) => `  - ${line}`), 'Start one with `rustless gateway`, or name it with --host ssh://[USER@]HOST[/SOCKET]|SOCKET|URL or RUSTLESS_HOST.'].join('\n'),
    { details: { tried } },
  );
}

const EXPECTED = 'expected ssh://[user@]host[:port][/path/to/admin.sock], an http://host:port URL or an admin socket path';

/**
 * A `--host` value: `ssh://[user@]host[:port][/socket]` (the socket defaults to the installed
 * /run/rustless/admin.sock), an `http(s)://host:port` URL, or else a path to an admin socket.
 */
export function parseHost(value: string, token: string | undefined, source: string): HostSpec {
  if (/^ssh:\/\//i.test(value)) return parseSshHost(value, source);
  if (/^https?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new RustlessError('RUSTLESS_BAD_REQUEST', `${source}: ${EXPECTED}, got ${JSON.stringify(value)}`);
    }
    return { kind: 'url', url: url.origin, token };
  }
  if (value.includes('://')) {
    throw new RustlessError('RUSTLESS_BAD_REQUEST', `${source}: ${EXPECTED}, got ${JSON.stringify(value)}`);
  }
  return { kind: 'socket', path: value };
}

function parseSshHost(value: string, source: string): HostSpec {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RustlessError('RUSTLESS_BAD_REQUEST', `${source}: ${EXPECTED}, got ${JSON.stringify(value)}`);
  }
  if (!url.hostname || url.password || url.search || url.hash) {
    throw new RustlessError('RUSTLESS_BAD_REQUEST', `${source}: ${EXPECTED} (no password, query or fragment), got ${JSON.stringify(value)}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const user = decodeURIComponent(url.username);
  const socketPath = url.pathname && url.pathname !== '/' ? decodeURIComponent(url.pathname) : SYSTEM_ADMIN_SOCKET;
  return { kind: 'ssh', destination: user ? `${user}@${host}` : host, port: url.port ? Number(url.port) : undefined, socketPath, url: value };
}

async function readConfig(file: string): Promise<{ value?: UserConfig; problem?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { problem: (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { problem: `not valid JSON (${(error as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { problem: `expected a JSON object, got ${JSON.stringify(parsed)}` };
  const { host, token } = parsed as Record<string, unknown>;
  if (host !== undefined && typeof host !== 'string') return { problem: `"host" must be a string, got ${JSON.stringify(host)}` };
  if (token !== undefined && typeof token !== 'string') return { problem: `"token" must be a string, got ${JSON.stringify(token)}` };
  return { value: { ...(host ? { host } : {}), ...(token ? { token } : {}) } };
}

const PROBE_TIMEOUT_MS = 5000;

/** Undefined when a gateway accepts connections on `path`; otherwise why not. */
async function probeSocket(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (!info.isSocket()) return 'not a socket';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
  }
  return new Promise((resolve) => {
    const socket = connect(path);
    // A unix socket connects at once or fails at once; only a full backlog or a starved event loop
    // waits. A busy Pi (a build on both cores) took over 1 s to run the callback (seen in the arm64 VM).
    const timer = setTimeout(() => done(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`), PROBE_TIMEOUT_MS);
    function done(problem: string | undefined): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    }
    socket.once('connect', () => done(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'ECONNREFUSED' ? 'connection refused (a stale socket: is the gateway running?)'
        : error.code === 'EACCES' ? 'permission denied (is your user in the `rustless` group?)'
        : error.message;
      done(reason);
    });
  });
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
