/** The last lines an app's runner wrote, with followers for live logs. */
import { EventEmitter, on } from 'node:events';

export class LogRing {
  readonly #lines: string[] = [];
  readonly #events = new EventEmitter();

  constructor(readonly capacity = 2000) {
    this.#events.setMaxListeners(0);
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.capacity) this.#lines.shift();
    this.#events.emit('line', line);
  }

  async *read({ lines = 100, follow = false, signal }: { lines?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<string> {
    // Subscribe before replaying so no line falls between the two.
    const live = follow ? on(this.#events, 'line', signal ? { signal } : {}) : undefined;
    yield* this.#lines.slice(-lines);
    if (!live) return;
    try {
      for await (const [line] of live) yield line as string;
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  }
}
