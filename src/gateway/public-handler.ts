/**
 * The public HTTP edge: match a route, check the body, lease the app, forward the request to
 * its runner over a unix socket, and answer with the function's status, headers and JSON.
 * Every error here answers in the JSON error shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { errors as undiciErrors } from 'undici';
import { RustlessError } from '../errors.js';
import { isJsonContentType, readBody } from '../http/read-body.js';
import { sendError, sendThrown } from '../http/json-response.js';
import type { RouteTable, RouteTarget } from '../router/route-table.js';
import type { AppLifecycle } from './app-lifecycle.js';
import type { RunnerPools } from './runner-pools.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

export interface PublicHandlerContext {
  routes(): RouteTable;
  lifecycle: AppLifecycle;
  pools: RunnerPools;
  /** Counts every public request, for the STATUS line. */
  onRequest?: () => void;
}

export function createPublicHandler(context: PublicHandlerContext) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    context.onRequest?.();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const match = context.routes().match(method, url);
    if (match.kind === 'not-found') {
      req.resume();
      return sendError(res, 'RUSTLESS_NOT_FOUND', 404, `no route for ${method} ${url.split('?')[0]}`);
    }
    if (match.kind === 'method-not-allowed') {
      req.resume();
      const allow = match.allowed.join(', ');
      return sendError(res, 'RUSTLESS_METHOD_NOT_ALLOWED', 405, `${method} is not allowed on ${url.split('?')[0]} (allowed: ${allow})`, { allow });
    }
    try {
      const body = await readJsonBody(req, match.target);
      await forward(context, req, res, match.target, match.params, body);
    } catch (error) {
      // Past a 413 the rest of the body is not worth reading; close instead.
      if (error instanceof RustlessError && error.code === 'RUSTLESS_PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close');
      sendThrown(res, error);
    }
  };
}

async function readJsonBody(req: IncomingMessage, target: RouteTarget): Promise<Buffer> {
  const body = await readBody(req, target.maxBodyBytes);
  if (body.length === 0) return body;
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new RustlessError('RUSTLESS_UNSUPPORTED_MEDIA_TYPE', `request body must be JSON (content-type: application/json), got ${JSON.stringify(req.headers['content-type'] ?? 'no content-type')}`);
  }
  try {
    JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new RustlessError('RUSTLESS_INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
  }
  return body;
}

async function forward(
  context: PublicHandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: RouteTarget,
  params: Record<string, string>,
  body: Buffer,
): Promise<void> {
  const headers = forwardHeaders(req.headers, req.socket.remoteAddress);
  headers['x-rustless-function'] = target.function;
  headers['x-rustless-params'] = asciiJson(params);
  if (body.length > 0) headers['content-length'] = String(body.length);

  const started = performance.now();
  let status = 502;
  // A connection refused means no runner took the socket yet (it just crashed or was stopped):
  // nothing reached the function, so one fresh attempt is safe for any method.
  for (let attempt = 1; ; attempt++) {
    const lease = await context.lifecycle.acquire(target.app);
    try {
      const pool = context.pools.get(target.app, lease.socketPath);
      const answer = await pool.request({
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers,
        body: body.length > 0 ? body : null,
        headersTimeout: target.timeoutMs,
        bodyTimeout: target.timeoutMs,
      });
      status = answer.statusCode;
      const payload = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(status, responseHeaders(answer.headers, payload.length));
      res.end(payload);
      return;
    } catch (error) {
      if (attempt === 1 && isConnectError(error)) {
        context.lifecycle.markInactive(target.app);
        context.pools.drop(target.app);
        continue;
      }
      const failure = upstreamFailure(error, target);
      status = failure.status;
      if (status === 502) {
        context.lifecycle.markInactive(target.app);
        context.pools.drop(target.app);
      }
      throw failure;
    } finally {
      lease.release({ status, durationMs: performance.now() - started });
    }
  }
}

/** JSON with every non-ASCII character escaped: header values travel as Latin-1, JSON escapes don't. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function forwardHeaders(incoming: IncomingHttpHeaders, remote: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('x-rustless-')) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (remote) headers['x-forwarded-for'] = remote;
  return headers;
}

function responseHeaders(incoming: Record<string, string | string[] | undefined>, length: number): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  headers['content-length'] = String(length);
  return headers;
}

function isConnectError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || (code === 'ECONNRESET' && !(error instanceof undiciErrors.SocketError));
}

function upstreamFailure(error: unknown, target: RouteTarget): RustlessError {
  if (error instanceof RustlessError) return error;
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new RustlessError('RUSTLESS_TIMEOUT', `${target.function} in app ${target.app} did not answer within ${target.timeoutMs} ms`, { cause: error });
  }
  return new RustlessError('RUSTLESS_RUNNER_FAILED', `the runner of app ${target.app} failed while answering (${(error as Error).message})`, { cause: error });
}
