/**
 * The public HTTP edge: match a route, check the body, lease the app, forward the request to
 * its runner over the frame connection, and answer with the function's status, headers and
 * JSON. Every error here answers in the JSON error shape.
 *
 * The warm path (app up, bodiless request) runs start to end without an `await`: route match,
 * one pass over the raw headers, a lease taken synchronously, a frame queued on the app's
 * connection, and the answer written when its frame arrives.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RunnerExit } from '../backends/backend.js';
import { RustlessError } from '../errors.js';
import { bodyNotAllowed, checkBody } from '../http/body-rules.js';
import { readBodyThen } from '../http/read-body.js';
import { sendError, sendThrown } from '../http/json-response.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RouteTable, RouteTarget } from '../router/route-table.js';
import type { AppLifecycle, Lease } from './app-lifecycle.js';
import type { ClientAddresses } from './client-address.js';
import type { RunnerClients } from './upstream/runner-clients.js';
import type { UpstreamExchange, UpstreamFailure } from './upstream/runner-connection.js';

/**
 * Client headers never forwarded: hop-by-hop ones, those the gateway sets itself, and
 * `expect` (node's server has already answered `100 Continue`, or the client sent the body
 * anyway, and the runner gets the whole body at once).
 */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', 'x-forwarded-for']);
/** Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2), minus TRACE. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** Sends of one request at most, whatever happens: a runner that cannot start must not loop. */
const MAX_ATTEMPTS = 3;
const EMPTY = Buffer.alloc(0);
const remoteAddress = Symbol('rustless.remoteAddress');

export interface PublicHandlerContext {
  routes(): RouteTable;
  lifecycle: AppLifecycle;
  clients: RunnerClients;
  /** Counts every public request, for the STATUS line. */
  onRequest?: () => void;
  /** Prometheus metrics; undefined with `--no-metrics`. */
  metrics?: GatewayMetrics | undefined;
  /** Who the client is: the peer, or what a trusted proxy says (`--trust-proxy`). */
  clientAddresses?: ClientAddresses | undefined;
}

export function createPublicHandler(context: PublicHandlerContext) {
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    context.onRequest?.();
    // node's parser only accepts upper-case methods.
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const match = context.routes().match(method, url);
    if (match.kind === 'not-found') {
      req.resume();
      context.metrics?.unrouted(404);
      return sendError(res, 'RUSTLESS_NOT_FOUND', 404, `no route for ${method} ${url.split('?')[0]}`);
    }
    if (match.kind === 'method-not-allowed') {
      req.resume();
      context.metrics?.unrouted(405);
      const allow = match.allowed.join(', ');
      return sendError(res, 'RUSTLESS_METHOD_NOT_ALLOWED', 405, `${method} is not allowed on ${url.split('?')[0]} (allowed: ${allow})`, { allow });
    }
    const exchange = new Exchange(context, req, res, match.target, JSON.stringify(match.params));
    if (exchange.bodiless) return exchange.start(EMPTY);
    const refused = bodyNotAllowed(method);
    if (refused !== undefined) return exchange.fail(refused);
    readBodyThen(req, match.target.maxBodyBytes, (error, body) => (error ? exchange.fail(error) : exchange.startWithBody(body!)), exchange.contentLength);
  };
}

/**
 * One client request on its way to the runner and back. How it goes, and what a failure costs
 * (test/local/http-contract.test.ts and test/unit/gateway/public-handler.test.ts hold these):
 *
 * 1. A request that never reached the runner (no connection, or still queued when the
 *    connection closed) is sent again on the (re)started runner: nothing ran. At most
 *    MAX_ATTEMPTS sends in all, and only the last one counts in the app's request statistics.
 * 2. A connection that closes with the request sent and unanswered: the backend says whether
 *    the runner died. An idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) is sent once more;
 *    when the runner died, that retry runs alone on the restarted runner, so that if it is the
 *    request that kills the runner it takes no other request down with it. Any other method
 *    fails with 502 RUSTLESS_RUNNER_DIED naming the cause (its function may have run).
 * 3. Every other failure (a timeout, an answer node refuses to send) fails this request alone:
 *    504 or 502 RUSTLESS_RUNNER_FAILED. The connection and the other requests on it go on; a
 *    connection is only closed when its app stops or is replaced.
 * 4. The runner never sees `expect` (see NOT_FORWARDED), and the client gets headers per RFC
 *    9110 (see onResponse): no content-length on 1xx/204/304, a HEAD keeps the GET's length.
 */
class Exchange implements UpstreamExchange {
  readonly bodiless: boolean;
  readonly contentType: string | undefined;
  /** As the client sent it (read from `rawHeaders`, so node never builds `req.headers`). */
  readonly contentLength: string | undefined;
  deadline = 0;
  readonly #context: PublicHandlerContext;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #target: RouteTarget;
  readonly #params: string;
  /** The forwarded headers as `name: value\n` lines. */
  readonly #headers: string;
  readonly #started = performance.now();
  #body: Buffer = EMPTY;
  #lease: Lease | undefined;
  #attempts = 0;
  #retriedBroken = false;
  /** How the runner died under the first send, when a retry went out alone after it. */
  #diedUnder: RunnerExit | undefined;
  /** `Date.now()` of the last send, for asking the backend whether the runner died since. */
  #sentAt = 0;

  constructor(context: PublicHandlerContext, req: IncomingMessage, res: ServerResponse, target: RouteTarget, params: string) {
    this.#context = context;
    this.#req = req;
    this.#res = res;
    this.#target = target;
    this.#params = params;
    let headers = '';
    let contentType: string | undefined;
    let length: string | undefined;
    let chunked = false;
    let forwardedFor: string | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (NOT_FORWARDED.has(name)) {
        if (name === 'content-length') length = value;
        else if (name === 'transfer-encoding') chunked = true;
        else if (name === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor},${value}`;
        continue;
      }
      if (name.startsWith('x-rustless-')) continue;
      if (name === 'content-type') contentType ??= value;
      headers += `${name}: ${value}\n`;
    }
    const socket = req.socket as Socket & { [remoteAddress]?: string | undefined };
    // remoteAddress asks the kernel each time; a keep-alive socket keeps its peer.
    const peer = socket[remoteAddress] ??= socket.remoteAddress;
    const client = context.clientAddresses === undefined ? peer : context.clientAddresses.of(peer, forwardedFor);
    if (client !== undefined) headers += `x-forwarded-for: ${client}\n`;
    this.#headers = headers;
    this.contentType = contentType;
    this.contentLength = length;
    this.bodiless = !chunked && (length === undefined || length === '0');
  }

  /** Checks that the route takes a body of this type (JSON unless its `accept` says more), then sends it. */
  startWithBody(body: Buffer): void {
    if (body.length === 0) return this.start(body);
    const refused = checkBody(this.#target.accept, this.contentType, body);
    if (refused !== undefined) return this.fail(refused);
    this.start(body);
  }

  start(body: Buffer): void {
    this.#body = body;
    const lease = this.#context.lifecycle.tryAcquire(this.#target.app);
    if (lease !== undefined) this.#send(lease);
    else this.#acquire();
  }

  fail(error: unknown): void {
    // Past a 413, or a body on GET, the rest of the body is not worth reading; close instead.
    if (error instanceof RustlessError && (error.code === 'RUSTLESS_PAYLOAD_TOO_LARGE' || error.code === 'RUSTLESS_BODY_NOT_ALLOWED')) this.#res.setHeader('connection', 'close');
    this.#finish(error instanceof RustlessError ? error.status : 500);
    sendThrown(this.#res, error);
  }

  onResponse(status: number, head: string, body: Buffer): void {
    const headers: string[] = [];
    let hasLength = false;
    let valid = true;
    for (let from = 0; from < head.length; ) {
      let end = head.indexOf('\n', from);
      if (end < 0) end = head.length;
      const colon = head.indexOf(': ', from);
      if (colon < 0 || colon > end) {
        valid = false;
        break;
      }
      const name = head.slice(from, colon);
      if (name === 'content-length') hasLength = true;
      headers.push(name, head.slice(colon + 2, end));
      from = end + 1;
    }
    // 1xx, 204 and 304 carry no length; a HEAD answer brings the length its GET would have.
    if (!hasLength && status >= 200 && status !== 204 && status !== 304) headers.push('content-length', String(body.length));
    try {
      if (!valid) throw new Error('a response header line without ": "');
      this.#res.writeHead(status, headers);
    } catch (error) {
      // A header node refuses: this answer is lost, nothing else is.
      this.#finish(502);
      sendThrown(this.#res, new RustlessError('RUSTLESS_RUNNER_FAILED', `the runner of app ${this.#target.app} sent a response header that is not valid HTTP`, { cause: error }));
      return;
    }
    this.#finish(status);
    this.#res.end(body);
  }

  onFailure(failure: UpstreamFailure, cause: Error | undefined): void {
    if (failure === 'timeout') {
      // A retry that times out hides why it was sent: say how the first runner died (an OOM kill on a slow machine).
      const died = this.#diedUnder ? `; its runner died under it first (${exitText(this.#diedUnder)}), and the request, sent again alone to a new runner, had not been answered` : '';
      this.#finish(504);
      sendThrown(this.#res, new RustlessError('RUSTLESS_TIMEOUT', `${this.#target.function} in app ${this.#target.app} did not answer within ${this.#target.timeoutMs} ms${died}`));
      return;
    }
    // Off the hot path: asking the backend may wait a moment for an exit to be seen. The lease
    // is held meanwhile, as the request is still this app's.
    this.#context.lifecycle.runnerExit(this.#target.app, this.#sentAt).then(
      (exit) => this.#afterBrokenConnection(failure, exit, cause),
      (error: unknown) => {
        this.#finish(502);
        sendThrown(this.#res, error);
      },
    );
  }

  #afterBrokenConnection(failure: 'unsent' | 'died', exit: (RunnerExit & { confirmed: boolean }) | undefined, cause: Error | undefined): void {
    const method = this.#req.method ?? 'GET';
    let error: RustlessError;
    if (failure === 'unsent' && this.#attempts < MAX_ATTEMPTS) return this.#sendAgain(false);
    if (failure === 'died' && IDEMPOTENT.has(method) && !this.#retriedBroken && this.#attempts < MAX_ATTEMPTS) {
      this.#retriedBroken = true;
      this.#diedUnder = exit;
      return this.#sendAgain(exit !== undefined);
    }
    if (failure === 'died' && exit !== undefined) {
      error = runnerDied(this.#target, `${method} ${(this.#req.url ?? '/').split('?')[0]}`, exit, this.#retriedBroken, cause);
    } else {
      const why = cause === undefined ? 'the connection closed' : cause.message;
      error = new RustlessError('RUSTLESS_RUNNER_FAILED', `the runner of app ${this.#target.app} failed while answering (${why})`, { cause });
    }
    this.#finish(502);
    sendThrown(this.#res, error);
  }

  /** A send that is followed by another does not count in the app's statistics. */
  #sendAgain(alone: boolean): void {
    this.#lease?.release(undefined);
    this.#lease = undefined;
    this.#acquire(alone);
  }

  #acquire(alone = false): void {
    this.#context.lifecycle.acquire(this.#target.app, { alone }).then(
      (lease) => this.#send(lease),
      // acquire released its own slot.
      (error: unknown) => {
        this.#finish(error instanceof RustlessError ? error.status : 500);
        sendThrown(this.#res, error);
      },
    );
  }

  #send(lease: Lease): void {
    this.#lease = lease;
    this.#attempts++;
    this.#sentAt = Date.now();
    if (this.#attempts === 1) this.deadline = this.#started + this.#target.timeoutMs;
    const target = this.#target;
    const body = this.#body.length > 0 ? this.#body : undefined;
    this.#context.clients.get(target.app, lease.socketPath).send(this, this.#req.method ?? 'GET', this.#req.url ?? '/', target.function, this.#params, this.#headers, body);
  }

  #finish(status: number): void {
    const durationMs = performance.now() - this.#started;
    this.#lease?.release({ status, durationMs });
    this.#lease = undefined;
    this.#context.metrics?.request(this.#target, this.#req.method ?? 'GET', status, durationMs / 1000);
  }
}

/** `it was killed by SIGKILL (out of memory: the limit is 128M)`. */
function exitText(exit: RunnerExit): string {
  return `${exit.reason}${exit.oomKilled ? ` (out of memory${exit.memoryLimit ? `: the limit is ${exit.memoryLimit}` : ''})` : ''}`;
}

/** `request` is the method and path, as in `POST /todos`. */
function runnerDied(target: RouteTarget, request: string, exit: RunnerExit & { confirmed: boolean }, retried: boolean, cause: unknown): RustlessError {
  const method = request.split(' ')[0];
  // Only a backend that saw the runner end twice, the second time with this request alone on it, may blame the request.
  const why = !retried
    ? `${method} is not idempotent, so it was not retried (its function may have run)`
    : exit.confirmed
      ? 'it died again when the request was retried alone, so this request is the likely cause'
      : 'it failed again when the request was retried alone';
  return new RustlessError('RUSTLESS_RUNNER_DIED', `the runner of app ${target.app} died while answering ${request}: ${exitText(exit)}; ${why}`, {
    cause,
    details: { app: target.app, reason: exit.reason, ...(exit.oomKilled === undefined ? {} : { oomKilled: exit.oomKilled }), ...(exit.memoryLimit ? { memoryLimit: exit.memoryLimit } : {}) },
  });
}
