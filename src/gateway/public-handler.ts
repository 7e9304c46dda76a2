/**
 * The public HTTP edge: match a route, check the body, lease the app, forward the request to
 * its runner over a unix socket, and answer with the function's status, headers and JSON.
 * Every error here answers in the JSON error shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { RunnerExit } from '../backends/backend.js';
import { errors as undiciErrors } from 'undici';
import { RustlessError } from '../errors.js';
import { isJsonContentType, readBody } from '../http/read-body.js';
import { sendError, sendThrown } from '../http/json-response.js';
import type { RouteTable, RouteTarget } from '../router/route-table.js';
import type { AppLifecycle } from './app-lifecycle.js';
import type { RunnerPools } from './runner-pools.js';

// `expect` too: node's server has already answered `100 Continue` (or the client sent the body
// anyway), and the runner gets the whole body at once.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect']);

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

/**
 * How a request goes to the runner, and what a failure costs. These rules are the contract
 * (test/local/http-contract.test.ts and test/unit/gateway/public-handler.test.ts hold them):
 *
 * 1. A request that never reached the runner (connection refused, socket missing) is sent
 *    again on the (re)started runner: nothing ran. At most MAX_ATTEMPTS sends in all, and only
 *    the last one counts in the app's request statistics. (A request still queued, unwritten,
 *    when its connection closed is re-sent by undici's pool itself; a client that replaces
 *    the pool must do the same: to the function it is a request that never arrived.)
 * 2. A connection that breaks after the request went out: the backend says whether the
 *    runner died. An idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) is sent once more;
 *    when the runner died, that retry runs alone on the restarted runner, so that if it is the
 *    request that kills the runner it takes no other request down with it. Any other method
 *    fails with 502 RUSTLESS_RUNNER_DIED naming the cause (its function may have run).
 * 3. Every other failure (a timeout, a response the gateway cannot parse, a connection that
 *    broke while the runner lives) fails this request alone: 504 or 502 RUSTLESS_RUNNER_FAILED.
 *    No connection pool is torn down for it; a pool goes only when its app stops or is replaced.
 * 4. The runner never sees `expect` (see HOP_BY_HOP), and the client gets headers per RFC 9110
 *    (see responseHeaders): no content-length on 1xx/204/304, a HEAD keeps the GET's length.
 */
async function forward(
  context: PublicHandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: RouteTarget,
  params: Record<string, string>,
  body: Buffer,
): Promise<void> {
  const method = req.method ?? 'GET';
  const headers = forwardHeaders(req.headers, req.socket.remoteAddress);
  headers['x-rustless-function'] = target.function;
  headers['x-rustless-params'] = asciiJson(params);
  if (body.length > 0) headers['content-length'] = String(body.length);

  const started = performance.now();
  let retriedBroken = false;
  let alone = false;
  for (let attempt = 1; ; attempt++) {
    let status = 502;
    let sendAgain = false;
    const lease = await context.lifecycle.acquire(target.app, { alone });
    const sentAt = Date.now();
    try {
      const pool = context.pools.get(target.app, lease.socketPath);
      const answer = await pool.request({
        path: req.url ?? '/',
        method: method as 'GET',
        headers,
        body: body.length > 0 ? body : null,
        headersTimeout: target.timeoutMs,
        bodyTimeout: target.timeoutMs,
      });
      status = answer.statusCode;
      const payload = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(status, responseHeaders(method, status, answer.headers, payload.length));
      res.end(payload);
      return;
    } catch (error) {
      const failure = classify(error);
      if (failure === 'unsent') {
        // The runner is not listening: wait for its exit to be seen, so the next acquire starts a new one.
        await context.lifecycle.runnerExit(target.app, sentAt);
        sendAgain = attempt < MAX_ATTEMPTS;
        if (sendAgain) continue;
      }
      if (failure === 'broken') {
        const exit = await context.lifecycle.runnerExit(target.app, sentAt);
        if (IDEMPOTENT.has(method) && !retriedBroken && attempt < MAX_ATTEMPTS) {
          retriedBroken = true;
          alone = exit !== undefined;
          sendAgain = true;
          continue;
        }
        if (exit) throw runnerDied(target, `${method} ${(req.url ?? '/').split('?')[0]}`, exit, retriedBroken, error);
      }
      const thrown = upstreamFailure(error, target);
      status = thrown.status;
      throw thrown;
    } finally {
      lease.release(sendAgain ? undefined : { status, durationMs: performance.now() - started });
    }
  }
}

/** Sends of one request at most, whatever happens: a runner that cannot start must not loop. */
const MAX_ATTEMPTS = 3;
/** Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2), minus TRACE. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** `unsent`: nothing reached the runner; `broken`: the connection broke with the request on it. */
function classify(error: unknown): 'unsent' | 'broken' | 'other' {
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT') return 'unsent';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return 'broken';
  return 'other';
}

/** `request` is the method and path, as in `POST /todos`. */
function runnerDied(target: RouteTarget, request: string, exit: RunnerExit & { confirmed: boolean }, retried: boolean, cause: unknown): RustlessError {
  const limit = exit.oomKilled ? ` (out of memory${exit.memoryLimit ? `: the limit is ${exit.memoryLimit}` : ''})` : '';
  const method = request.split(' ')[0];
  // Only a backend that saw the runner end twice, the second time with this request alone on it, may blame the request.
  const why = !retried
    ? `${method} is not idempotent, so it was not retried (its function may have run)`
    : exit.confirmed
      ? 'it died again when the request was retried alone, so this request is the likely cause'
      : 'it failed again when the request was retried alone';
  return new RustlessError('RUSTLESS_RUNNER_DIED', `the runner of app ${target.app} died while answering ${request}: ${exit.reason}${limit}; ${why}`, {
    cause,
    details: { app: target.app, reason: exit.reason, ...(exit.oomKilled === undefined ? {} : { oomKilled: exit.oomKilled }), ...(exit.memoryLimit ? { memoryLimit: exit.memoryLimit } : {}) },
  });
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

/**
 * The runner's headers as the client gets them (RFC 9110 §8.6): a 1xx, 204 or 304 carries no
 * content-length; a HEAD carries the length its GET would have had, as the runner announced it.
 */
function responseHeaders(method: string, status: number, incoming: Record<string, string | string[] | undefined>, length: number): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  if (status < 200 || status === 204 || status === 304) return headers;
  const announced = incoming['content-length'];
  headers['content-length'] = method === 'HEAD' && typeof announced === 'string' ? announced : String(length);
  return headers;
}

function upstreamFailure(error: unknown, target: RouteTarget): RustlessError {
  if (error instanceof RustlessError) return error;
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new RustlessError('RUSTLESS_TIMEOUT', `${target.function} in app ${target.app} did not answer within ${target.timeoutMs} ms`, { cause: error });
  }
  return new RustlessError('RUSTLESS_RUNNER_FAILED', `the runner of app ${target.app} failed while answering (${(error as Error).message})`, { cause: error });
}
