/** The one-line app commands: rm, stop, rollback, logs (main.ts has checked that APP is there). */
import type { CommandContext } from '../command.js';
import { printJson, UsageError } from '../output.js';


export async function rm({ client, positionals, flags }: CommandContext): Promise<number> {
  const app = positionals[0]!;
  if (flags['keep-data'] && flags['delete-data']) throw new UsageError('--keep-data and --delete-data exclude each other');
  const data = flags['keep-data'] ? 'keep' : flags['delete-data'] ? 'delete' : undefined;
  await (await client()).deleteApp(app, data);
  if (flags.json) printJson({ deleted: app, ...(data ? { data } : {}) });
  else process.stderr.write(`deleted ${app}${data === 'keep' ? ' (its data directory is kept)' : data === 'delete' ? ' and its data' : ''}\n`);
  return 0;
}

export async function stop({ client, positionals }: CommandContext): Promise<number> {
  const app = positionals[0]!;
  await (await client()).stopApp(app);
  process.stderr.write(`stopped ${app}; the next request starts it again\n`);
  return 0;
}

export async function rollback({ client, positionals, flags }: CommandContext): Promise<number> {
  const app = positionals[0]!;
  const build = typeof flags.build === 'string' ? Number(flags.build) : undefined;
  if (build !== undefined && !Number.isInteger(build)) throw new UsageError(`--build must be a build id, got ${JSON.stringify(flags.build)}`);
  const detail = await (await client()).rollback(app, build);
  if (flags.json) printJson(detail);
  else process.stderr.write(`${app} now serves build #${detail.currentBuild}\n`);
  return 0;
}

export async function logs({ client, positionals, flags }: CommandContext): Promise<number> {
  const app = positionals[0]!;
  const lines = typeof flags.lines === 'string' ? Number(flags.lines) : 100;
  if (!Number.isInteger(lines) || lines < 0) throw new UsageError(`--lines must be a non-negative integer, got ${JSON.stringify(flags.lines)}`);
  for await (const line of (await client()).logs(app, { lines, follow: Boolean(flags.follow) })) process.stdout.write(`${line}\n`);
  return 0;
}
