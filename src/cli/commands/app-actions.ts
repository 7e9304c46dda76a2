/** The one-line app commands: rm, stop, rollback, logs. */
import type { CommandContext } from '../command.js';
import { printJson, UsageError } from '../output.js';

function appName(positionals: string[], usage: string): string {
  const app = positionals[0];
  if (!app) throw new UsageError(`usage: ${usage}`);
  return app;
}

export async function rm({ client, positionals, flags }: CommandContext): Promise<number> {
  const app = appName(positionals, 'rustless rm APP [--keep-data | --delete-data]');
  if (flags['keep-data'] && flags['delete-data']) throw new UsageError('--keep-data and --delete-data exclude each other');
  const data = flags['keep-data'] ? 'keep' : flags['delete-data'] ? 'delete' : undefined;
  await client().deleteApp(app, data);
  if (flags.json) printJson({ deleted: app, ...(data ? { data } : {}) });
  else process.stderr.write(`deleted ${app}${data === 'keep' ? ' (its data directory is kept)' : data === 'delete' ? ' and its data' : ''}\n`);
  return 0;
}

export async function stop({ client, positionals }: CommandContext): Promise<number> {
  const app = appName(positionals, 'rustless stop APP');
  await client().stopApp(app);
  process.stderr.write(`stopped ${app}; the next request starts it again\n`);
  return 0;
}

export async function rollback({ client, positionals, flags }: CommandContext): Promise<number> {
  const app = appName(positionals, 'rustless rollback APP [--build ID]');
  const build = typeof flags.build === 'string' ? Number(flags.build) : undefined;
  if (build !== undefined && !Number.isInteger(build)) throw new UsageError(`--build must be a build id, got ${JSON.stringify(flags.build)}`);
  const detail = await client().rollback(app, build);
  if (flags.json) printJson(detail);
  else process.stderr.write(`${app} now serves build #${detail.currentBuild}\n`);
  return 0;
}

export async function logs({ client, positionals, flags }: CommandContext): Promise<number> {
  const app = appName(positionals, 'rustless logs APP [--follow] [--lines N]');
  const lines = typeof flags.lines === 'string' ? Number(flags.lines) : 100;
  for await (const line of client().logs(app, { lines, follow: Boolean(flags.follow) })) process.stdout.write(`${line}\n`);
  return 0;
}
