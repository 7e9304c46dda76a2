/**
 * The admin API over HTTP: `/v1/...` routes mapped onto the gateway's methods. Served on the
 * admin unix socket (access by file permissions) and, optionally, on TCP with a bearer token.
 * Documented in docs/admin-api.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { RustlessError, toRustlessError } from '../errors.js';
import type { Gateway } from '../gateway/gateway.js';
import { DEFAULT_UPLOAD_LIMITS } from '../builder/upload-limits.js';
import { readBody } from '../http/read-body.js';
import { MAX_SECRET_BYTES } from '../secrets/secret-store.js';
import { sendError, sendJson, sendThrown } from '../http/json-response.js';
import { checkRegistry, exportSource, pushBuildImage, sendImage } from '../export/host-export.js';

/** The unpacker's own limit, so an upload the API takes is never refused for its size later. */
export const MAX_UPLOAD_BYTES = DEFAULT_UPLOAD_LIMITS.maxCompressedBytes;

type Params = Record<string, string>;
type Handler = (req: IncomingMessage, res: ServerResponse, params: Params, query: URLSearchParams) => Promise<void>;

interface AdminRoute {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

export interface AdminHandlerOptions {
  /** Required on the TCP listener: requests without `authorization: Bearer <token>` get 401. */
  token?: string;
}

export function createAdminHandler(gateway: Gateway, options: AdminHandlerOptions = {}) {
  const routes: AdminRoute[] = [
    route('GET', '/v1/info', async (_req, res) => sendJson(res, 200, gateway.info())),
    route('GET', '/metrics', async (_req, res) => sendMetrics(gateway, res)),
    route('GET', '/v1/apps', async (_req, res) => sendJson(res, 200, { apps: await gateway.listApps() })),
    route('GET', '/v1/apps/:app', async (_req, res, p) => sendJson(res, 200, { app: await gateway.describeApp(p.app!) })),
    route('DELETE', '/v1/apps/:app', async (_req, res, p, q) => {
      const data = q.get('data') ?? undefined;
      if (data !== undefined && data !== 'keep' && data !== 'delete') throw new RustlessError('RUSTLESS_BAD_REQUEST', `\`data\` must be keep or delete, got ${JSON.stringify(data)}`);
      await gateway.deleteApp(p.app!, data);
      sendJson(res, 200, { deleted: p.app, ...(data ? { data } : {}) });
    }),
    route('GET', '/v1/apps/:app/secrets', async (_req, res, p) => sendJson(res, 200, { secrets: await gateway.listSecrets(p.app!) })),
    route('PUT', '/v1/apps/:app/secrets/:name', async (req, res, p) => {
      // The value is the raw body: any bytes, and never echoed back, logged or put in an error.
      const value = await readBody(req, MAX_SECRET_BYTES + 1);
      await gateway.setSecret(p.app!, p.name!, value);
      sendJson(res, 200, { app: p.app, secret: p.name, set: true });
    }),
    route('DELETE', '/v1/apps/:app/secrets/:name', async (_req, res, p) => {
      await gateway.removeSecret(p.app!, p.name!);
      sendJson(res, 200, { app: p.app, secret: p.name, set: false });
    }),
    route('POST', '/v1/apps/:app/stop', async (_req, res, p) => {
      await gateway.stopApp(p.app!);
      sendJson(res, 200, { stopped: p.app });
    }),
    route('POST', '/v1/apps/:app/rollback', async (req, res, p) => {
      const body = await readJson(req);
      const build = body.build;
      if (build !== undefined && (typeof build !== 'number' || !Number.isInteger(build))) {
        throw new RustlessError('RUSTLESS_BAD_REQUEST', `\`build\` must be a build id (an integer), got ${JSON.stringify(build)}`);
      }
      sendJson(res, 200, { app: await gateway.rollback(p.app!, build as number | undefined) });
    }),
    route('GET', '/v1/apps/:app/logs', async (req, res, p, q) => {
      const lines = q.has('lines') ? Number(q.get('lines')) : 100;
      if (!Number.isInteger(lines) || lines < 0) throw new RustlessError('RUSTLESS_BAD_REQUEST', `\`lines\` must be a non-negative integer, got ${JSON.stringify(q.get('lines'))}`);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const stream = gateway.logs(p.app!, { lines, follow: q.get('follow') === '1', signal: abort.signal });
      await streamNdjson(res, stream, (line) => ({ line }));
    }),
    route('GET', '/v1/apps/:app/export', async (_req, res, p, q) => sendJson(res, 200, { export: await exportSource(gateway.exportBuild(p.app!, optionalBuildId(q))) })),
    route('GET', '/v1/apps/:app/export/image', async (_req, res, p, q) => sendImage(gateway.exportBuild(p.app!, optionalBuildId(q)), res)),
    route('POST', '/v1/apps/:app/export/push', async (req, res, p) => {
      const body = await readJson(req);
      const registry = checkRegistry(body.registry);
      const build = body.build === undefined ? undefined : buildId(String(body.build));
      sendJson(res, 200, { image: await pushBuildImage(gateway.exportBuild(p.app!, build), registry) });
    }),
    route('POST', '/v1/builds', async (req, res) => {
      const archive = await readBody(req, MAX_UPLOAD_BYTES).catch((error: unknown) => {
        throw error instanceof RustlessError && error.code === 'RUSTLESS_PAYLOAD_TOO_LARGE'
          ? new RustlessError('RUSTLESS_UPLOAD_TOO_LARGE', `the upload is larger than the limit of ${MAX_UPLOAD_BYTES} bytes (${MAX_UPLOAD_BYTES / 1024 / 1024} MiB)`)
          : error;
      });
      sendJson(res, 202, { build: await gateway.submitBuild(archive) });
    }),
    route('GET', '/v1/builds/:id', async (_req, res, p) => sendJson(res, 200, { build: gateway.getBuild(buildId(p.id!)) })),
    route('GET', '/v1/builds/:id/events', async (_req, res, p) => {
      await streamNdjson(res, gateway.watchBuild(buildId(p.id!)), (event) => event);
    }),
  ];

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (options.token !== undefined && !authorized(req, options.token)) {
        req.resume();
        return sendError(res, 'RUSTLESS_UNAUTHORIZED', 401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
      }
      const url = new URL(req.url ?? '/', 'http://admin');
      const method = req.method ?? 'GET';
      const matches = routes.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m);
      const hit = matches.find((x) => x.r.method === method);
      if (!hit) {
        req.resume();
        if (matches.length > 0) {
          const allow = matches.map((x) => x.r.method).join(', ');
          return sendError(res, 'RUSTLESS_METHOD_NOT_ALLOWED', 405, `${method} is not allowed on ${url.pathname} (allowed: ${allow})`, { allow });
        }
        return sendError(res, 'RUSTLESS_NOT_FOUND', 404, `no admin endpoint ${method} ${url.pathname}`);
      }
      await hit.r.handler(req, res, decodeParams(hit.m!.groups), url.searchParams);
    } catch (error) {
      sendThrown(res, error);
    }
  };
}

function route(method: string, path: string, handler: Handler): AdminRoute {
  const source = path.replace(/:([a-z]+)/g, '(?<$1>[^/]+)');
  return { method, pattern: new RegExp(`^${source}$`), handler };
}

/** Prometheus's text exposition format; 404 when the gateway runs with `--no-metrics`. */
export async function sendMetrics(gateway: Gateway, res: ServerResponse): Promise<void> {
  if (!gateway.metrics) return sendError(res, 'RUSTLESS_NOT_FOUND', 404, 'metrics are off: the gateway runs with --no-metrics');
  const { text, contentType } = await gateway.metrics.scrape();
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Route params as the client meant them (`%2F` is a slash inside a name, refused later by name checks). */
function decodeParams(groups: Record<string, string> | undefined): Params {
  const params: Params = {};
  for (const [name, value] of Object.entries(groups ?? {})) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      throw new RustlessError('RUSTLESS_BAD_REQUEST', `\`${name}\` is not valid percent-encoding: ${JSON.stringify(value)}`);
    }
  }
  return params;
}

/** `authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1), the token is not. */
function authorized(req: IncomingMessage, token: string): boolean {
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+) *$/.exec(req.headers.authorization ?? '');
  if (!match || match[1]!.toLowerCase() !== 'bearer') return false;
  const given = Buffer.from(match[2]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function buildId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 1) throw new RustlessError('RUSTLESS_BAD_REQUEST', `a build id is a positive integer, got ${JSON.stringify(text)}`);
  return id;
}

/** `?build=ID`, or undefined for the serving build. */
function optionalBuildId(query: URLSearchParams): number | undefined {
  const text = query.get('build');
  return text === null ? undefined : buildId(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req, 64 * 1024);
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Falls through to the error below.
  }
  throw new RustlessError('RUSTLESS_INVALID_JSON', 'request body must be a JSON object');
}

/**
 * Streams one JSON value per line; the response ends when the source does. A source that fails
 * after the 200 went out ends the stream with one last line, the error's own JSON body
 * (`{"error":{"code":...,"message":...}}`), which the client throws.
 */
async function streamNdjson<T>(res: ServerResponse, source: AsyncIterable<T>, toJson: (item: T) => unknown): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  try {
    for await (const item of source) {
      if (res.destroyed) break;
      res.write(`${JSON.stringify(toJson(item))}\n`);
    }
  } catch (error) {
    if (!res.destroyed) res.write(`${JSON.stringify(toRustlessError(error).toJSON())}\n`);
  }
  res.end();
}
