/** Opens the real TUI (`node dist/cli/main.js`, no arguments) in a pty against a test gateway. */
import { join } from 'node:path';
import { CLI, ROOT } from '../../helpers/gateway.js';
import { PtyScreen, type PtyScreenOptions } from './pty-screen.js';

export function openTui(adminSocket: string, options: PtyScreenOptions & { extraEnv?: NodeJS.ProcessEnv } = {}): PtyScreen {
  const env: NodeJS.ProcessEnv = { ...process.env, RUSTLESS_HOST: adminSocket, ...options.extraEnv };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  if (options.extraEnv?.NO_COLOR) env.NO_COLOR = options.extraEnv.NO_COLOR;
  return new PtyScreen(process.execPath, [CLI], { cwd: ROOT, cols: 80, rows: 24, ...options, env });
}

export const HELLO = join(ROOT, 'runner', 'examples', 'hello');
