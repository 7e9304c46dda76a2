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
import { RustlessError } from '../errors.js';
import { isJsonContentType, readBodyThen } from '../http/read-body.js';
import { sendError, sendThrown } from '../http/json-response.js';
import type { RouteTable, RouteTarget } from '../router/route-table.js';
import type { AppLifecycle, Lease } from './app-lifecycle.js';
import type { RunnerClients } from './upstream/runner-clients.js';
import type { UpstreamExchange, UpstreamFailure } from './upstream/runner-connection.js';

/** Client headers never forwarded: hop-by-hop ones, and those the gateway sets itself. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', 'x-forwarded-for']);
/** Methods a runner that died mid-request may see again: running them twice changes nothing more. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** Attempts for a request the runner never saw (it was starting, restarting or just gone). */
const MAX_UNSENT_ATTEMPTS = 4;
const EMPTY = Buffer.alloc(0);
const remoteAddress = Symbol('rustless.remoteAddress');

export interface PublicHandlerContext {
  routes(): RouteTable;
  lifecycle: AppLifecycle;
  clients: RunnerClients;
  /** Counts every public request, for the STATUS line. */
  onRequest?: () => void;
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
      return sendError(res, 'RUSTLESS_NOT_FOUND', 404, `no route for ${method} ${url.split('?')[0]}`);
    }
    if (match.kind === 'method-not-allowed') {
      req.resume();
      const allow = match.allowed.join(', ');
      return sendError(res, 'RUSTLESS_METHOD_NOT_ALLOWED', 405, `${method} is not allowed on ${url.split('?')[0]} (allowed: ${allow})`, { allow });
    }
    const exchange = new Exchange(context, req, res, match.target, JSON.stringify(match.params));
    if (exchange.bodiless) exchange.start(EMPTY);
    else readBodyThen(req, match.target.maxBodyBytes, (error, body) => (error ? exchange.fail(error) : exchange.startWithBody(body!)));
  };
}

/** One client request on its way to the runner and back. */
class Exchange implements UpstreamExchange {
  readonly bodiless: boolean;
  readonly contentType: string | undefined;
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
  #retriedDeath = false;

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
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (NOT_FORWARDED.has(name)) {
        if (name === 'content-length') length = value;
        else if (name === 'transfer-encoding') chunked = true;
        continue;
      }
      if (name.startsWith('x-rustless-')) continue;
      if (name === 'content-type') contentType ??= value;
      headers += `${name}: ${value}\n`;
    }
    const socket = req.socket as Socket & { [remoteAddress]?: string | undefined };
    // remoteAddress asks the kernel each time; a keep-alive socket keeps its peer.
    const remote = socket[remoteAddress] ??= socket.remoteAddress;
    if (remote !== undefined) headers += `x-forwarded-for: ${remote}\n`;
    this.#headers = headers;
    this.contentType = contentType;
    this.bodiless = !chunked && (length === undefined || length === '0');
  }

  /** Checks that a body is JSON, then sends it. */
  startWithBody(body: Buffer): void {
    if (body.length === 0) return this.start(body);
    if (!isJsonContentType(this.contentType)) {
      return this.fail(new RustlessError('RUSTLESS_UNSUPPORTED_MEDIA_TYPE', `request body must be JSON (content-type: application/json), got ${JSON.stringify(this.contentType ?? 'no content-type')}`));
    }
    try {
      JSON.parse(body.toString('utf8'));
    } catch (error) {
      return this.fail(new RustlessError('RUSTLESS_INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`));
    }
    this.start(body);
  }

  start(body: Buffer): void {
    this.#body = body;
    const lease = this.#context.lifecycle.tryAcquire(this.#target.app);
    if (lease !== undefined) this.#send(lease);
    else this.#acquire();
  }

  fail(error: unknown): void {
    // Past a 413 the rest of the body is not worth reading; close instead.
    if (error instanceof RustlessError && error.code === 'RUSTLESS_PAYLOAD_TOO_LARGE') this.#res.setHeader('connection', 'close');
    this.#finish(error instanceof RustlessError ? error.status : 500);
    sendThrown(this.#res, error);
  }

  onResponse(status: number, head: string, body: Buffer): void {
    const headers: string[] = [];
    let hasLength = false;
    let from = 0;
    while (from < head.length) {
      const end = head.indexOf('\n', from);
      const colon = head.indexOf(': ', from);
      const name = head.slice(from, colon);
      if (name === 'content-length') hasLength = true;
      headers.push(name, head.slice(colon + 2, end));
      from = end + 1;
    }
    // 1xx, 204 and 304 carry no length; a HEAD answer brings the length its GET would have.
    if (!hasLength && status >= 200 && status !== 204 && status !== 304) headers.push('content-length', String(body.length));
    this.#finish(status);
    try {
      this.#res.writeHead(status, headers);
    } catch (error) {
      // A header node refuses: this answer is lost, nothing else is.
      sendThrown(this.#res, new RustlessError('RUSTLESS_RUNNER_FAILED', `the runner of app ${this.#target.app} sent a response header that is not valid HTTP`, { cause: error }));
      return;
    }
    this.#res.end(body);
  }

  onFailure(failure: UpstreamFailure, cause: Error | undefined): void {
    const { app } = this.#target;
    if (failure === 'timeout') {
      this.#finish(504);
      sendThrown(this.#res, new RustlessError('RUSTLESS_TIMEOUT', `${this.#target.function} in app ${app} did not answer within ${this.#target.timeoutMs} ms`));
      return;
    }
    // The connection is gone, so the runner probably is: the next attempt goes through the backend.
    this.#context.lifecycle.markInactive(app);
    let retry = false;
    if (failure === 'unsent') retry = this.#attempts < MAX_UNSENT_ATTEMPTS;
    else if (!this.#retriedDeath && IDEMPOTENT.has(this.#req.method ?? 'GET')) retry = this.#retriedDeath = true;
    this.#lease?.release({ status: 502, durationMs: performance.now() - this.#started });
    this.#lease = undefined;
    if (retry) {
      // Give the backend a moment to see the exit before it is asked for the runner again.
      setTimeout(() => this.#acquire(), failure === 'unsent' ? 10 * (this.#attempts - 1) : 0);
      return;
    }
    const why = cause === undefined ? '' : ` (${cause.message})`;
    sendThrown(
      this.#res,
      failure === 'unsent'
        ? new RustlessError('RUSTLESS_RUNNER_FAILED', `the runner of app ${app} did not accept the request${why}`, { cause })
        : new RustlessError('RUSTLESS_RUNNER_DIED', `the runner of app ${app} exited before answering ${this.#req.method} ${this.#req.url}${why}; it was not retried since it may have run`, { cause }),
    );
  }

  #acquire(): void {
    this.#context.lifecycle.acquire(this.#target.app).then(
      (lease) => this.#send(lease),
      (error: unknown) => {
        // acquire released its own slot.
        sendThrown(this.#res, error);
      },
    );
  }

  #send(lease: Lease): void {
    this.#lease = lease;
    this.#attempts++;
    if (this.#attempts === 1) this.deadline = this.#started + this.#target.timeoutMs;
    const target = this.#target;
    const body = this.#body.length > 0 ? this.#body : undefined;
    this.#context.clients.get(target.app, lease.socketPath).send(this, this.#req.method ?? 'GET', this.#req.url ?? '/', target.function, this.#params, this.#headers, body);
  }

  #finish(status: number): void {
    this.#lease?.release({ status, durationMs: performance.now() - this.#started });
    this.#lease = undefined;
  }
}
