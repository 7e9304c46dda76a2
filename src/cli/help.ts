/** The help texts (all commands, or one), and finding a command by a name the user typed. */
import { VERSION } from '../version.js';
import { nearest } from './argv.js';
import type { Command } from './command.js';
import { COMMANDS } from './commands.js';
import { UsageError } from './output.js';

const GLOBALS = 'global options, before or after the command: --host ssh://[USER@]HOST[:PORT][/SOCKET]|SOCKET|URL (or RUSTLESS_HOST), --token TOKEN (or RUSTLESS_TOKEN), --json, --help';

export function helpText(): string {
  const lines = [`rustless ${VERSION}: a serverless host for Rust functions`, '', 'usage:', '  rustless                 open the terminal UI (in a terminal)'];
  for (const command of Object.values(COMMANDS)) if (!command.hidden) lines.push(`  ${command.usage}`, `      ${command.summary}`);
  lines.push('', GLOBALS, '', 'rustless help COMMAND shows one command.');
  return `${lines.join('\n')}\n`;
}

export function commandHelp(command: Command): string {
  return `usage: ${command.usage}\n  ${command.summary}\n${command.needsHost ? `${GLOBALS}\n` : ''}`;
}

/** The names a user may type (the completion helper is not one). */
export function commandNames(): string[] {
  return Object.keys(COMMANDS).filter((name) => !COMMANDS[name]!.hidden);
}

/** The command called `name`, or an error that suggests the nearest one. */
export function findCommand(name: string): Command {
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command) return command;
  const suggestion = nearest(name, commandNames());
  throw new UsageError(`unknown command ${JSON.stringify(name)}${suggestion ? `; did you mean ${suggestion}?` : ''} (rustless help lists them)`);
}

/** Too few or too many positional arguments for `command`, said before anything else runs. */
export function checkArity(name: string, command: Command, positionals: string[]): void {
  const required = command.args.filter((arg) => !arg.optional).length;
  const repeats = command.args.some((arg) => arg.repeats);
  if (positionals.length < required) {
    const missing = command.args.slice(positionals.length).filter((arg) => !arg.optional).map((arg) => arg.name + (arg.repeats ? '...' : ''));
    throw new UsageError(`${name}: missing ${missing.join(' ')}\nusage: ${command.usage}`);
  }
  if (!repeats && positionals.length > command.args.length) {
    const extra = positionals.slice(command.args.length).map((word) => JSON.stringify(word)).join(' ');
    throw new UsageError(`${name} takes ${command.args.length === 0 ? 'no arguments' : `at most ${command.args.length} argument${command.args.length === 1 ? '' : 's'}`}, got also ${extra}\nusage: ${command.usage}`);
  }
}
