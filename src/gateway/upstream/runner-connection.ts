/**
 * One long-lived frame connection to a runner's socket, carrying every request to that
 * runner at once: requests queued in one turn of the event loop leave in one write, answers
 * come back in any order and are matched by id. Nothing here awaits; each request is an
 * `UpstreamExchange` that hears exactly one of `onResponse` or `onFailure`.
 */
import { connect, type Socket } from 'node:net';
import { FrameReader, FrameWriter, PREFACE } from './frame-codec.js';

/**
 * Why a request got no answer:
 * - `unsent`: it never reached the runner (no connection, or still queued when it closed): safe to retry;
 * - `died`: it was written and the connection ended before the answer: the function may have run;
 * - `timeout`: no answer before its deadline (the connection stays; a late answer is dropped).
 */
export type UpstreamFailure = 'unsent' | 'died' | 'timeout';

export interface UpstreamExchange {
  /** `performance.now()` by which the answer must be there. */
  readonly deadline: number;
  onResponse(status: number, head: string, body: Buffer): void;
  onFailure(failure: UpstreamFailure, cause: Error | undefined): void;
}

/** How often deadlines are checked while requests are pending. */
const SWEEP_MS = 50;

export class RunnerConnection {
  readonly socketPath: string;
  readonly #socket: Socket;
  readonly #pending = new Map<number, UpstreamExchange>();
  /** Ids appended to the writer and not yet handed to the socket. */
  #staged: number[] = [];
  readonly #writer = new FrameWriter();
  readonly #reader = new FrameReader();
  #nextId = 1;
  /** Bytes of the runner's preface seen so far: it answers ours with the same bytes. */
  #acknowledged = 0;
  #closed = false;
  #ending = false;
  #flushScheduled = false;
  #sweeper: NodeJS.Timeout | undefined;
  #error: Error | undefined;
  readonly #onClose: (connection: RunnerConnection) => void;

  constructor(socketPath: string, onClose: (connection: RunnerConnection) => void) {
    this.socketPath = socketPath;
    this.#onClose = onClose;
    this.#socket = connect(socketPath);
    this.#socket.write(PREFACE);
    this.#socket.on('data', (chunk: Buffer) => {
      try {
        const rest = this.#acknowledged < PREFACE.length ? this.#takeAcknowledgement(chunk) : chunk;
        if (rest.length > 0) this.#reader.push(rest, this.#deliver);
      } catch (error) {
        this.#socket.destroy(error as Error);
      }
    });
    this.#socket.on('error', (error) => (this.#error = error));
    this.#socket.on('close', () => this.#closeAll());
  }

  /** False once the connection closed or is ending: send nothing more on it. */
  get usable(): boolean {
    return !this.#closed && !this.#ending;
  }

  send(exchange: UpstreamExchange, method: string, target: string, fn: string, params: string, headers: string, body: Buffer | undefined): void {
    const id = this.#nextId;
    this.#nextId = this.#nextId === 0xffffffff ? 1 : this.#nextId + 1;
    this.#pending.set(id, exchange);
    this.#writer.append(id, method, target, fn, params, headers, body);
    this.#staged.push(id);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // After this turn's I/O callbacks: requests from every client socket read in this turn go together.
      setImmediate(this.#flush);
    }
    this.#sweeper ??= setInterval(this.#sweep, SWEEP_MS).unref();
  }

  /** Closes the connection once every pending request has its answer; sends nothing more. */
  end(): void {
    this.#ending = true;
    if (this.#pending.size === 0) this.#socket.end();
  }

  /** Resolves when the socket is closed. */
  closed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#socket.once('close', () => resolve()));
  }

  /** Checks the runner's preface at the start of the stream; returns what follows it. */
  #takeAcknowledgement(chunk: Buffer): Buffer {
    const count = Math.min(PREFACE.length - this.#acknowledged, chunk.length);
    if (!chunk.subarray(0, count).equals(PREFACE.subarray(this.#acknowledged, this.#acknowledged + count))) {
      throw new Error('the runner does not speak the frame protocol: it was built by an older rust-less, deploy the app again');
    }
    this.#acknowledged += count;
    return chunk.subarray(count);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#closed || this.#writer.length === 0) return;
    this.#staged = [];
    // A unix socket with room takes the whole write at once (writableLength back to 0), and
    // the staging buffer can be reused without copying what it held.
    this.#socket.write(this.#writer.take());
    this.#writer.release(this.#socket.writableLength === 0);
  };

  readonly #deliver = (id: number, status: number, head: string, body: Buffer): void => {
    const exchange = this.#pending.get(id);
    // A request that timed out already answered its client.
    if (exchange === undefined) return;
    this.#pending.delete(id);
    exchange.onResponse(status, head, body);
    if (this.#ending && this.#pending.size === 0) this.#socket.end();
  };

  readonly #sweep = (): void => {
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
    const now = performance.now();
    for (const [id, exchange] of this.#pending) {
      if (exchange.deadline <= now) {
        this.#pending.delete(id);
        exchange.onFailure('timeout', undefined);
      }
    }
    if (this.#ending && this.#pending.size === 0) this.#socket.end();
  };

  #closeAll(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    const staged = new Set(this.#staged);
    const pending = [...this.#pending];
    this.#pending.clear();
    this.#staged = [];
    this.#onClose(this);
    for (const [id, exchange] of pending) {
      // Before the runner answered the preface (it does so before it reads a frame; so also before
      // the connection was up, or when it waited in a socket's backlog for a start that failed),
      // or never handed to the socket: the runner saw none of it.
      const unsent = this.#acknowledged < PREFACE.length || staged.has(id);
      exchange.onFailure(unsent ? 'unsent' : 'died', this.#error);
    }
  }
}
