/**
 * The line `rustless deploy` keeps redrawing while a build runs: cargo's count of units ready
 * (prebuilt dependencies count as ready, so the bar starts far along on a new app), the crates
 * this build compiled so far, and the time spent. On a terminal it is redrawn in place every
 * second; elsewhere one summary line is printed when the build ends.
 */
export class BuildStatusLine {
  readonly #stream: NodeJS.WriteStream;
  #startedAt: number | undefined;
  #bar = { done: 0, total: 0, compiled: 0 };
  #timer: NodeJS.Timeout | undefined;
  #shown = false;
  #ended = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }

  start(): void {
    this.#startedAt ??= Date.now();
    if (this.#stream.isTTY && !this.#timer) {
      this.#timer = setInterval(() => this.#draw(), 1000);
      this.#timer.unref();
    }
    this.#draw();
  }

  progress(done: number, total: number, compiled: number): void {
    this.#bar = { done, total, compiled };
    this.#draw();
  }

  /** A build line, printed above the status line. */
  print(text: string): void {
    if (this.#shown) this.#stream.write('\r\x1b[K');
    this.#stream.write(`${text}\n`);
    this.#shown = false;
    this.#draw();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#timer);
    if (this.#startedAt === undefined) return;
    if (this.#stream.isTTY) {
      this.#draw(true);
      this.#stream.write('\n');
    } else {
      this.#stream.write(`${this.text()}\n`);
    }
  }

  /** `  build: 38/40 ready, 2 crates compiled, 12 s` */
  text(now = Date.now()): string {
    const seconds = this.#startedAt === undefined ? 0 : Math.round((now - this.#startedAt) / 1000);
    const { done, total, compiled } = this.#bar;
    const ready = total > 0 ? `${done}/${total} ready, ` : '';
    return `  build: ${ready}${compiled} crate${compiled === 1 ? '' : 's'} compiled, ${seconds} s`;
  }

  #draw(final = false): void {
    if (!this.#stream.isTTY || this.#startedAt === undefined || (this.#ended && !final)) return;
    this.#stream.write(`\r\x1b[K${this.text()}`);
    this.#shown = true;
  }
}
