#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The `rustless` command. With no arguments in a terminal it opens the TUI; every action is
 * also a plain subcommand for scripts (most take --json). Global options go before or after
 * the command; a command's arguments are checked before any connection is tried.
 *
 * The flag on the first line caps V8's young generation at 1 MiB a half for the TUI and the
 * CLI: Ink's redraws grew it to 16 MiB a half, 13 MiB of a TUI's resident memory on a Pi (x86:
 * 108 -> 85 MiB after three minutes). The gateway, which moves requests and wants the default,
 * is started by rustless.service as `node main.js gateway`, so this line is not read there.
 */
import { parseArgs } from 'node:util';
// Types only: the admin client and what finds a host (ssh, mDNS) serve the commands that talk to a
// gateway; `rustless gateway` itself must not carry them idle.
import type { AdminClient } from '../admin/admin-client.js';
import { VERSION } from '../version.js';
import { splitArgv } from './argv.js';
import { GLOBAL_OPTIONS } from './commands.js';
import { checkArity, commandHelp, findCommand, helpText } from './help.js';
import { reportError, UsageError } from './output.js';

const connect = (...args: Parameters<typeof import('./connect.js').connect>) => import('./connect.js').then((m) => m.connect(...args));

async function main(argv: string[]): Promise<number> {
  const { command: name, args } = splitArgv(argv, GLOBAL_OPTIONS);
  if (name === undefined) return noCommand(args);
  const command = findCommand(name);
  if (command.rawArgs) return command.run({ positionals: args, flags: {}, client: () => Promise.reject(new Error(`command ${name} does not talk to a gateway`)) });
  const { values, positionals } = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  checkArity(name, command, positionals);
  let client: Promise<AdminClient> | undefined;
  try {
    return await command.run({
      positionals,
      flags: values as Record<string, string | boolean | undefined>,
      client: () => {
        if (!command.needsHost) return Promise.reject(new Error(`command ${name} does not talk to a gateway`));
        client ??= connect({ host: values.host as string | undefined, token: values.token as string | undefined }).then((c) => c.client);
        return client;
      },
    });
  } finally {
    await (await client?.catch(() => undefined))?.close();
  }
}

/** `rustless`, `rustless --host H`, `rustless --version`: the TUI in a terminal, else the help. */
async function noCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: GLOBAL_OPTIONS, strict: true });
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (values.help || !process.stdin.isTTY || !process.stdout.isTTY) {
    process.stdout.write(helpText());
    return 0;
  }
  const { client } = await connect({ host: values.host, token: values.token });
  // Ink draws only a final frame when CI is set (it reads that once, on import); a terminal
  // here means a person is watching, so the TUI renders live whatever the environment says.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  // The TUI redraws a screenful of text now and then, which V8's interpreter does fast enough;
  // without the compiling tiers (Sparkplug, Maglev, TurboFan) and the code they keep, it holds
  // less memory (x86: 85 -> 79 MiB). Set here rather than on the #! line, so a gateway started
  // by hand as `rustless gateway` still compiles its hot paths.
  const { setFlagsFromString } = await import('node:v8');
  for (const flag of ['--no-sparkplug', '--no-maglev', '--no-opt']) setFlagsFromString(flag);
  // run-tui.js with Ink and React in one file (scripts/build.mjs says why).
  const bundle = '../tui/run-tui.bundle.js';
  const { runTui } = (await import(bundle)) as typeof import('../tui/run-tui.js');
  const publicUrl = await client.publicUrl();
  const { describeHost } = await import('../admin/admin-client.js');
  await runTui({ client, hostLabel: describeHost(client.host), ...(publicUrl ? { publicUrl } : {}) });
  await client.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rustless: ${(error as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.exitCode = reportError(error);
    }
  },
);
