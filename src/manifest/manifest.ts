/**
 * `rustless.toml`: the file that maps routes to a function app's structs. Parsed and validated
 * here, once, for the CLI, the TUI and the builder alike. Every error names the file, the key
 * and the value it got.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { RustlessError } from '../errors.js';
import { isMediaRange } from '../http/body-rules.js';
import { parsePattern } from '../router/pattern.js';
import { VARIABLE_NAME } from './variable-name.js';

export const MANIFEST_FILE = 'rustless.toml';
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface RouteSpec {
  /** Methods this route answers; `['*']` means any. */
  methods: string[];
  path: string;
  /** The struct that answers, as a Rust path inside the app's crate (`Hello`, `handlers::Echo`). */
  function: string;
  timeoutMs: number;
  /**
   * A catch-all: answers only paths that no other app's route matches (and never their 405).
   * Builds recorded before this key existed have none.
   */
  fallback?: boolean;
  /** Media ranges of the request bodies it takes (`accept`), lower-case; absent: JSON only. */
  accept?: string[];
}

export interface ContainerSpec {
  network: boolean;
  /** systemd memory size (`64M`). */
  memory: string;
  pids: number;
}

export interface StorageSpec {
  /** The app gets a data directory that outlives its runner (`rustless::data_dir()`). */
  data: boolean;
}

export interface AppManifest {
  name: string;
  routes: RouteSpec[];
  idleTimeoutS: number | undefined;
  maxBodyBytes: number;
  container: ContainerSpec;
  /** `[env]`: plain settings, passed to the runner as environment variables. */
  env: Record<string, string>;
  /** `secrets = [...]`: the secrets the app's code reads; their values never come from here. */
  secrets: string[];
  storage: StorageSpec;
}

export const DEFAULT_ROUTE_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_CONTAINER: ContainerSpec = { network: false, memory: '128M', pids: 64 };

const APP_NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/;
const RUST_PATH = /^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/;
const MEMORY = /^[0-9]+[KMG]?$/;
/** Variables the host sets itself: an app cannot override them. */
const RESERVED_VARIABLE = /^(RUSTLESS_|LISTEN_|NOTIFY_SOCKET$|WATCHDOG_|PATH$|HOME$|CREDENTIALS_DIRECTORY$)/;
const MAX_ENV_VALUE = 4096;

type Table = Record<string, unknown>;

/** `table[key]` if the TOML set it: never something inherited, such as `toString` or `constructor`. */
function own(table: Table, key: string): unknown {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Reads and validates `<dir>/rustless.toml`; `crateName` is the default app name. */
export async function loadManifest(dir: string, crateName?: string): Promise<AppManifest> {
  const file = `${dir}/${MANIFEST_FILE}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new RustlessError('RUSTLESS_INVALID_MANIFEST', `${file}: cannot read it (${(error as Error).message})`, { cause: error });
  }
  return parseManifest(text, { file, crateName });
}

export function parseManifest(text: string, { file = MANIFEST_FILE, crateName }: { file?: string; crateName?: string } = {}): AppManifest {
  const fail = (message: string, key?: string): never => {
    throw new RustlessError('RUSTLESS_INVALID_MANIFEST', `${file}: ${message}`, { details: { file, ...(key ? { key } : {}) } });
  };
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (error) {
    return fail(`not valid TOML: ${(error as Error).message.split('\n')[0]}`);
  }

  const known = new Set(['name', 'routes', 'idle_timeout_s', 'max_body_bytes', 'container', 'env', 'secrets', 'storage']);
  for (const key of Object.keys(doc)) if (!known.has(key)) fail(`unknown key \`${key}\` (expected one of ${[...known].join(', ')})`, key);

  const name = own(doc, 'name') ?? crateName?.replaceAll('_', '-');
  if (typeof name !== 'string' || !APP_NAME.test(name)) {
    fail(`\`name\` must be lowercase letters, digits and dashes (at most 40, starting with a letter), got ${show(name)}`, 'name');
  }

  const rawRoutes = own(doc, 'routes');
  if (!Array.isArray(rawRoutes) || rawRoutes.length === 0) {
    fail(`\`routes\` must be a non-empty array of [[routes]] tables, got ${show(rawRoutes)}`, 'routes');
  }
  const routes = (rawRoutes as unknown[]).map((route, index) => parseRoute(route, `routes[${index}]`, fail));

  return {
    name: name as string,
    routes,
    idleTimeoutS: optionalInteger(doc, 'idle_timeout_s', 1, 86_400, fail),
    maxBodyBytes: optionalInteger(doc, 'max_body_bytes', 1, 64 * 1024 * 1024, fail) ?? DEFAULT_MAX_BODY_BYTES,
    container: parseContainer(own(doc, 'container'), fail),
    env: parseEnv(own(doc, 'env'), fail),
    secrets: parseSecrets(own(doc, 'secrets'), fail),
    storage: parseStorage(own(doc, 'storage'), fail),
  };
}

function parseEnv(value: unknown, fail: (message: string, key?: string) => never): Record<string, string> {
  if (value === undefined) return {};
  if (!isTable(value)) return fail(`\`env\` must be a table of NAME = "value", got ${show(value)}`, 'env');
  const env: Record<string, string> = {};
  for (const [name, setting] of Object.entries(value)) {
    if (!VARIABLE_NAME.test(name)) fail(`\`env.${name}\`: a setting's name is upper-case letters, digits and _, not starting with a digit`, `env.${name}`);
    if (RESERVED_VARIABLE.test(name)) fail(`\`env.${name}\`: the host sets ${name} itself; choose another name`, `env.${name}`);
    if (typeof setting !== 'string') fail(`\`env.${name}\` must be a string (quote numbers and booleans), got ${show(setting)}`, `env.${name}`);
    const text = setting as string;
    // A NUL cannot travel in an environment variable; newlines would break unit files.
    if (/[\0\r\n]/.test(text)) fail(`\`env.${name}\` must be one line without NUL characters`, `env.${name}`);
    if (text.length > MAX_ENV_VALUE) fail(`\`env.${name}\` is longer than ${MAX_ENV_VALUE} characters`, `env.${name}`);
    env[name] = text;
  }
  return env;
}

function parseSecrets(value: unknown, fail: (message: string, key?: string) => never): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail(`\`secrets\` must be a list of secret names such as ["DB_PASSWORD"], got ${show(value)}`, 'secrets');
  for (const name of value) {
    if (typeof name !== 'string' || !VARIABLE_NAME.test(name)) fail(`\`secrets\`: a secret's name is upper-case letters, digits and _, not starting with a digit, got ${show(name)}`, 'secrets');
  }
  return [...new Set(value as string[])];
}

function parseStorage(value: unknown, fail: (message: string, key?: string) => never): StorageSpec {
  if (value === undefined) return { data: false };
  if (!isTable(value)) return fail(`\`storage\` must be a table, got ${show(value)}`, 'storage');
  for (const key of Object.keys(value)) if (key !== 'data') fail(`unknown key \`storage.${key}\` (expected data)`, `storage.${key}`);
  const data = Object.hasOwn(value, 'data') ? value.data : false;
  if (typeof data !== 'boolean') fail(`\`storage.data\` must be true or false, got ${show(data)}`, 'storage.data');
  return { data: data as boolean };
}

function parseRoute(value: unknown, where: string, fail: (message: string, key?: string) => never): RouteSpec {
  if (!isTable(value)) return fail(`\`${where}\` must be a table, got ${show(value)}`, where);
  const known = new Set(['method', 'path', 'function', 'timeout_ms', 'fallback', 'accept']);
  for (const key of Object.keys(value)) if (!known.has(key)) fail(`unknown key \`${where}.${key}\` (expected one of ${[...known].join(', ')})`, `${where}.${key}`);

  const rawMethods = own(value, 'method') ?? 'GET';
  const list = Array.isArray(rawMethods) ? rawMethods : [rawMethods];
  if (list.length === 0) fail(`\`${where}.method\` must not be empty`, `${where}.method`);
  const methods = list.map((method) => {
    const upper = typeof method === 'string' ? method.toUpperCase() : method;
    if (upper !== '*' && !(HTTP_METHODS as readonly unknown[]).includes(upper)) {
      fail(`\`${where}.method\` must be one of ${HTTP_METHODS.join(', ')} or "*", got ${show(method)}`, `${where}.method`);
    }
    return upper as string;
  });
  if (methods.includes('*') && methods.length > 1) fail(`\`${where}.method\` "*" cannot be combined with other methods, got ${show(rawMethods)}`, `${where}.method`);

  const path = own(value, 'path');
  if (typeof path !== 'string') return fail(`\`${where}.path\` must be a string, got ${show(path)}`, `${where}.path`);
  try {
    parsePattern(path);
  } catch (error) {
    fail(`\`${where}.path\` ${(error as Error).message}`, `${where}.path`);
  }

  const fn = own(value, 'function');
  if (typeof fn !== 'string' || !RUST_PATH.test(fn)) {
    fail(`\`${where}.function\` must name a Rust struct such as "Hello" or "handlers::Echo", got ${show(fn)}`, `${where}.function`);
  }
  const timeoutMs = optionalInteger(value, 'timeout_ms', 1, 15 * 60_000, fail, where) ?? DEFAULT_ROUTE_TIMEOUT_MS;
  const fallback = own(value, 'fallback') ?? false;
  if (typeof fallback !== 'boolean') fail(`\`${where}.fallback\` must be true or false, got ${show(fallback)}`, `${where}.fallback`);
  const accept = parseAccept(own(value, 'accept'), where, fail);
  return { methods, path, function: fn as string, timeoutMs, fallback: fallback as boolean, ...(accept ? { accept } : {}) };
}

/** `accept = "*\/*"` or a list of media types; each named when it is not one. */
function parseAccept(value: unknown, where: string, fail: (message: string, key?: string) => never): string[] | undefined {
  if (value === undefined) return undefined;
  const key = `${where}.accept`;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) fail(`\`${key}\` must name at least one media type`, key);
  const ranges = list.map((range) => {
    const lower = typeof range === 'string' ? range.trim().toLowerCase() : undefined;
    if (lower === undefined || !isMediaRange(lower)) {
      fail(`\`${key}\` must be media types such as "application/json", "application/x-www-form-urlencoded", "text/*" or "*/*", got ${show(range)}`, key);
    }
    return lower!;
  });
  return [...new Set(ranges)];
}

function parseContainer(value: unknown, fail: (message: string, key?: string) => never): ContainerSpec {
  if (value === undefined) return { ...DEFAULT_CONTAINER };
  if (!isTable(value)) return fail(`\`container\` must be a table, got ${show(value)}`, 'container');
  const known = new Set(['network', 'memory', 'pids']);
  for (const key of Object.keys(value)) if (!known.has(key)) fail(`unknown key \`container.${key}\``, `container.${key}`);
  const network = own(value, 'network') ?? DEFAULT_CONTAINER.network;
  if (typeof network !== 'boolean') fail(`\`container.network\` must be true or false, got ${show(network)}`, 'container.network');
  const memory = own(value, 'memory') ?? DEFAULT_CONTAINER.memory;
  if (typeof memory !== 'string' || !MEMORY.test(memory)) fail(`\`container.memory\` must be a size such as "64M", got ${show(memory)}`, 'container.memory');
  const pids = optionalInteger(value, 'pids', 4, 4096, fail, 'container') ?? DEFAULT_CONTAINER.pids;
  return { network: network as boolean, memory: memory as string, pids };
}

function optionalInteger(
  table: Table,
  key: string,
  min: number,
  max: number,
  fail: (message: string, key?: string) => never,
  where?: string,
): number | undefined {
  const value = own(table, key);
  if (value === undefined) return undefined;
  const full = where ? `${where}.${key}` : key;
  // smol-toml returns integers as numbers (or bigint past 2^53, which is out of range anyway).
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`\`${full}\` must be an integer from ${min} to ${max}, got ${show(value)}`, full);
  }
  return value as number;
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? String(value);
}
