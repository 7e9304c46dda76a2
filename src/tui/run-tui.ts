/**
 * Entry point of the Ink TUI (`rustless` with no arguments in a terminal). Resolves when the
 * user quits; rejects if the UI crashed. Either way the terminal is left as it was found.
 */
import { createElement } from 'react';
import { render } from 'ink';
import type { AdminClient } from '../admin/admin-client.js';
import { App } from './App.js';
import type { Screen } from './tui-context.js';
import { enterAltScreen } from './terminal.js';

export interface RunTuiOptions {
  client: AdminClient;
  /** Which gateway this is, for the header (`/run/rustless/admin.sock`, `http://pi:7070`). */
  hostLabel: string;
  /** The gateway's public URL for invoke; asked of the gateway when not given. */
  publicUrl?: string;
  /** Opens this screen over the dashboard (`rustless deploy` in a TTY could use it). */
  initial?: Screen;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
}

export async function runTui(options: RunTuiOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const publicUrl = options.publicUrl ?? (await options.client.info().then((info) => info.publicUrl, () => null));
  const terminal = enterAltScreen(stdout, stdin);
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
  let instance: ReturnType<typeof render> | undefined;
  // An SSH session that drops sends SIGHUP: unmount cleanly instead of dying mid-frame.
  const onSignal = (): void => instance?.unmount();
  for (const signal of signals) process.on(signal, onSignal);
  try {
    instance = render(createElement(App, { client: options.client, hostLabel: options.hostLabel, publicUrl, ...(options.initial ? { initial: options.initial } : {}) }), {
      stdin,
      stdout,
      exitOnCtrlC: true,
      patchConsole: true,
    });
    await instance.waitUntilExit();
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    instance?.cleanup();
    terminal.leave();
  }
}
