/**
 * Gives back what a build left in the gateway's JavaScript heap, once the builds are over.
 *
 * A deploy runs code that nothing else runs (the upload's unpacking, the build's steps, the
 * image's), and V8 keeps what it compiled for it (bytecode, type feedback) until the function
 * has not run across `--bytecode-old-age` (5) full collections. An idle gateway allocates
 * nothing, so it never collects, and a deploy's code stayed resident for good. A few full
 * collections a while after the last build flush it: about 1 MiB of the 4 MiB a gateway grew
 * by over two deploys (x86; docs/raspberry-pi.md has the Pi's figures). What runs next and was
 * flushed is compiled again when it runs, as after a restart.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** How long after the last build the heap settles; a build that ends meanwhile starts it again. */
export const QUIET_MS = 30_000;
/** One more than V8's `--bytecode-old-age`: a function that ran in none of them is flushed. */
export const COLLECTIONS = 6;

/** One full garbage collection. */
export type Collect = () => void;

export class HeapSettle {
  readonly #quietMs: number;
  readonly #collect: () => Collect;
  #timer: NodeJS.Timeout | undefined;
  #settling: Promise<void> | undefined;

  constructor({ quietMs = QUIET_MS, collect = fullCollection }: { quietMs?: number; collect?: () => Collect } = {}) {
    this.#quietMs = quietMs;
    this.#collect = collect;
  }

  /** A build ended: settle the heap once no other has ended for a while. */
  buildEnded(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#settling = this.#settle();
    }, this.#quietMs);
    // A gateway that is stopping does not wait for it.
    this.#timer.unref();
  }

  /** The collections in progress, if any (for tests). */
  get settling(): Promise<void> | undefined {
    return this.#settling;
  }

  close(): void {
    clearTimeout(this.#timer);
  }

  async #settle(): Promise<void> {
    const collect = this.#collect();
    // A turn of the event loop between them: a request that arrives meanwhile waits for one
    // collection (milliseconds on a Pi), not for all of them.
    for (let i = 0; i < COLLECTIONS; i++) {
      collect();
      await nextTurn();
    }
  }
}

/**
 * V8's full collection: `gc` as `node --expose-gc` gives it, or exposed now. A context made
 * after the flag is set has `gc`; it collects the whole heap, not only that context's.
 */
export function fullCollection(): Collect {
  if (typeof globalThis.gc === 'function') return () => globalThis.gc!();
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collect;
}
