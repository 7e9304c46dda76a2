/**
 * `rustless completion bash|zsh|fish` prints a completion script; `rustless __complete WORDS...`
 * is what that script calls for each Tab.
 */
import type { CommandContext } from '../command.js';
import { completeWords, type TypedHost } from '../complete-words.js';
import { COMPLETION_SCRIPTS } from '../completion-scripts.js';
import { connect } from '../connect.js';
import { UsageError } from '../output.js';

/** How long a Tab may wait for the host's app names; past it, no app names are offered. */
const APPS_TIMEOUT_MS = 2000;

export async function completion({ positionals }: CommandContext): Promise<number> {
  const shell = positionals[0]!;
  if (!Object.hasOwn(COMPLETION_SCRIPTS, shell)) throw new UsageError(`completion: the shell must be bash, zsh or fish, got ${JSON.stringify(shell)}`);
  process.stdout.write(COMPLETION_SCRIPTS[shell as keyof typeof COMPLETION_SCRIPTS]);
  return 0;
}

export async function complete({ positionals }: CommandContext): Promise<number> {
  const result = await completeWords(positionals, appsOf);
  process.stdout.write('paths' in result ? ':paths\n' : result.words.map((word) => `${word}\n`).join(''));
  // A connection still being made (ssh to a host that does not answer) must not hold up the
  // shell: the answer is out, so end now (the ssh tunnel is killed on exit).
  process.exit(0);
}

/** The apps of the host the line names (or the usual one), or none within the time allowed. */
async function appsOf(host: TypedHost): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), APPS_TIMEOUT_MS)));
  const names = (async () => {
    const { client } = await connect(host);
    try {
      return (await client.apps()).map((app) => app.name);
    } finally {
      await client.close();
    }
  })().catch(() => []);
  const apps = await Promise.race([names, timeout]);
  clearTimeout(timer);
  return apps;
}
