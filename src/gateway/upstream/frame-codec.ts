/**
 * The frames of the gateway↔runner protocol (docs/runner-protocol.md): request frames built
 * into one staging buffer so that everything sent in a turn of the event loop leaves in one
 * write, and response frames cut out of whatever the socket delivered, many per read.
 * Integers are little-endian.
 */

/** Sent first on every connection: tells the runner this connection speaks frames. */
export const PREFACE = Buffer.from('\0rustless-frames/1\n', 'latin1');

const INITIAL_STAGING = 64 * 1024;
/** Response frames larger than this mean the stream is corrupt, not a big answer. */
const MAX_FRAME = 256 * 1024 * 1024;

/** Request frames waiting to be written. */
export class FrameWriter {
  #buffer = Buffer.allocUnsafeSlow(INITIAL_STAGING);
  #used = 0;

  get length(): number {
    return this.#used;
  }

  /**
   * Appends `u32 length, u32 id, u32 headLength, head, body`. The head is the lines
   * `METHOD target`, the function, the params JSON (UTF-8), then `name: value` lines
   * (latin1: header bytes as the client sent them), each ending in `\n`.
   */
  append(id: number, method: string, target: string, fn: string, params: string, headers: string, body: Buffer | undefined): void {
    const bodyLength = body === undefined ? 0 : body.length;
    this.#reserve(12 + method.length + target.length + 3 * (fn.length + params.length) + headers.length + 4 + bodyLength);
    const buffer = this.#buffer;
    const start = this.#used;
    let at = start + 12;
    at += buffer.write(method, at, 'latin1');
    buffer[at++] = 0x20;
    at += buffer.write(target, at, 'latin1');
    buffer[at++] = 0x0a;
    at += buffer.write(fn, at, 'utf8');
    buffer[at++] = 0x0a;
    at += buffer.write(params, at, 'utf8');
    buffer[at++] = 0x0a;
    at += buffer.write(headers, at, 'latin1');
    buffer.writeUInt32LE(at - start - 12, start + 8);
    if (body !== undefined) at += body.copy(buffer, at);
    buffer.writeUInt32LE(at - start - 4, start);
    buffer.writeUInt32LE(id, start + 4);
    this.#used = at;
  }

  /**
   * Everything appended so far, as a view of the staging buffer; the writer starts over
   * empty. Call `release` once the socket is done with the view.
   */
  take(): Buffer {
    const out = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    return out;
  }

  /**
   * After writing what `take` returned: `written` says the socket wrote it before `write`
   * returned (nothing left queued), so the staging buffer is free again; otherwise the
   * socket still holds a view of it and the writer stages into a new one.
   */
  release(written: boolean): void {
    // One huge body must not pin a huge staging buffer for good either.
    if (!written || this.#buffer.length > 16 * INITIAL_STAGING) this.#buffer = Buffer.allocUnsafeSlow(INITIAL_STAGING);
  }

  #reserve(bytes: number): void {
    if (this.#used + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.#buffer.length * 2, this.#used + bytes));
    this.#buffer.copy(grown, 0, 0, this.#used);
    this.#buffer = grown;
  }
}

export type ResponseSink = (id: number, status: number, head: string, body: Buffer) => void;

/** Cuts response frames (`u32 length, u32 id, u16 status, u32 headLength, head, body`) out of a byte stream. */
export class FrameReader {
  /** Bytes of an incomplete frame, kept as chunks until the whole frame is there (one copy per frame). */
  #chunks: Buffer[] = [];
  #size = 0;
  #need = 4;

  /** Delivers every complete frame; throws on a corrupt stream. */
  push(chunk: Buffer, sink: ResponseSink): void {
    let buffer = chunk;
    if (this.#size > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
      if (this.#size < this.#need) return;
      buffer = Buffer.concat(this.#chunks, this.#size);
      this.#chunks = [];
      this.#size = 0;
    }
    let at = 0;
    while (buffer.length - at >= 4) {
      const length = buffer.readUInt32LE(at);
      if (length < 10 || length > MAX_FRAME) throw new Error(`corrupt response frame (length ${length})`);
      if (buffer.length - at - 4 < length) break;
      const headLength = buffer.readUInt32LE(at + 10);
      const headEnd = at + 14 + headLength;
      if (headEnd > at + 4 + length) throw new Error('corrupt response frame (head longer than the frame)');
      sink(buffer.readUInt32LE(at + 4), buffer.readUInt16LE(at + 8), buffer.toString('latin1', at + 14, headEnd), buffer.subarray(headEnd, at + 4 + length));
      at += 4 + length;
    }
    if (at < buffer.length) {
      const rest = buffer.subarray(at);
      this.#chunks.push(rest);
      this.#size = rest.length;
      this.#need = rest.length >= 4 ? 4 + rest.readUInt32LE(0) : 4;
    }
  }
}
