/** Reading a request body with a size limit, without buffering past the limit. */
import type { IncomingMessage } from 'node:http';
import { RustlessError } from '../errors.js';

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => readBodyThen(req, limit, (error, body) => (error ? reject(error) : resolve(body!))));
}

/**
 * The same with a callback: plain 'data' listeners cost far less per request than an async
 * iterator, which matters on the public hot path. Calls `done` exactly once.
 */
export function readBodyThen(req: IncomingMessage, limit: number, done: (error: RustlessError | undefined, body?: Buffer) => void): void {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return done(tooLarge(declared, limit));
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  let finished = false;
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      finished = true;
      req.off('data', onData);
      req.pause();
      return done(tooLarge(size, limit));
    }
    // Most bodies come in one chunk: keep it without a copy.
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  };
  req.on('data', onData);
  req.once('end', () => {
    if (finished) return;
    finished = true;
    done(undefined, chunks !== undefined ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0)));
  });
  req.once('error', () => {
    if (finished) return;
    finished = true;
    done(new RustlessError('RUSTLESS_BAD_REQUEST', 'the request body was cut short'));
  });
}

function tooLarge(size: number, limit: number): RustlessError {
  return new RustlessError('RUSTLESS_PAYLOAD_TOO_LARGE', `request body is larger than the limit of ${limit} bytes (got at least ${size})`);
}

/** True for `application/json` and `application/<anything>+json`, with or without parameters. */
export function isJsonContentType(value: string | undefined): boolean {
  const type = (value ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
