/**
 * A person at a terminal, for tests: runs a command in a real pseudo-terminal (node-pty),
 * renders everything it prints through a terminal emulator (@xterm/headless) and reads the
 * screen back as text. Also used to capture the screens shown in docs/tui.md.
 */
import * as pty from 'node-pty';
import xterm from '@xterm/headless';

export const KEYS = {
  enter: '\r',
  escape: '\u001b',
  tab: '\t',
  up: '\u001b[A',
  down: '\u001b[B',
  pageUp: '\u001b[5~',
  pageDown: '\u001b[6~',
  backspace: '\u007f',
  ctrlC: '\u0003',
  ctrlU: '\u0015',
} as const;

export interface PtyScreenOptions {
  cols?: number;
  rows?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export class PtyScreen {
  readonly process: pty.IPty;
  readonly terminal: InstanceType<typeof xterm.Terminal>;
  /** Everything the program wrote, escape sequences and all. */
  raw = '';
  readonly exited: Promise<{ exitCode: number; signal?: number | undefined }>;
  #pending = 0;
  #changed = 0;

  constructor(file: string, args: string[], { cols = 80, rows = 24, cwd = process.cwd(), env = process.env }: PtyScreenOptions = {}) {
    this.terminal = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
    this.process = pty.spawn(file, args, { name: 'xterm-256color', cols, rows, cwd, env: { ...env, TERM: 'xterm-256color' } as Record<string, string> });
    this.process.onData((data) => {
      this.raw += data;
      this.#pending++;
      this.terminal.write(data, () => {
        this.#pending--;
        this.#changed = performance.now();
      });
    });
    this.exited = new Promise((resolve) => this.process.onExit(resolve));
  }

  /** The screen as text, one line per row, trailing spaces trimmed. */
  text(): string {
    const buffer = this.terminal.buffer.active;
    const lines: string[] = [];
    for (let row = 0; row < this.terminal.rows; row++) lines.push(buffer.getLine(buffer.viewportY + row)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  /** Which buffer is showing: the TUI draws on the alternate one. */
  bufferType(): 'normal' | 'alternate' {
    return this.terminal.buffer.active.type;
  }

  press(...keys: string[]): void {
    for (const key of keys) this.process.write(key);
  }

  /** Types text one character at a time, as a person would. */
  async type(text: string): Promise<void> {
    for (const char of text) {
      this.process.write(char);
      await sleep(5);
    }
  }

  resize(cols: number, rows: number): void {
    this.process.resize(cols, rows);
    this.terminal.resize(cols, rows);
  }

  /** Waits until the screen matches `pattern`; fails with the screen it last saw. */
  async waitFor(pattern: string | RegExp, timeoutMs = 15_000): Promise<string> {
    const test = (text: string): boolean => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const text = this.text();
      if (this.#pending === 0 && test(text)) return text;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)} on screen:\n${frame(text)}`);
      await sleep(10);
    }
  }

  /** Waits until the screen no longer matches `pattern`. */
  async waitForGone(pattern: string | RegExp, timeoutMs = 15_000): Promise<string> {
    const test = (text: string): boolean => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const text = this.text();
      if (this.#pending === 0 && !test(text)) return text;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)} to go, on screen:\n${frame(text)}`);
      await sleep(10);
    }
  }

  /** Waits until nothing has been drawn for `quietMs`, counted from now at the earliest. */
  async settle(quietMs = 300): Promise<string> {
    const start = performance.now();
    for (;;) {
      await sleep(quietMs / 3);
      if (this.#pending === 0 && performance.now() - Math.max(start, this.#changed) >= quietMs) return this.text();
    }
  }

  kill(): void {
    try {
      this.process.kill();
    } catch {
      // Already gone.
    }
    this.terminal.dispose();
  }
}

/** The screen inside a box, so a failure message shows its edges. */
export function frame(text: string): string {
  const lines = text.split('\n');
  const width = Math.max(...lines.map((l) => l.length));
  return [`┌${'─'.repeat(width)}┐`, ...lines.map((l) => `│${l.padEnd(width)}│`), `└${'─'.repeat(width)}┘`].join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
