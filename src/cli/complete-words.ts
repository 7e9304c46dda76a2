/**
 * What fits the word under the cursor, given the words typed after `rustless`: commands, their
 * flags and flag values, fixed words, app names (asked of the host), or `paths` (the shell
 * completes a file name). The completion scripts call it through `rustless __complete`.
 */
import type { Command } from './command.js';
import { COMMANDS, GLOBAL_OPTIONS } from './commands.js';
import { commandNames } from './help.js';

export type Completion = { words: string[] } | { paths: true };

/** The host options found in the words, so app names come from the host the line talks to. */
export interface TypedHost {
  host?: string;
  token?: string;
}

type Options = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/**
 * `typed`: the words after `rustless`, the last one the word being completed ('' after a
 * space). `apps` lists the apps of the host the line names (empty when it cannot be reached).
 */
export async function completeWords(typed: string[], apps: (host: TypedHost) => Promise<string[]>): Promise<Completion> {
  const words = typed.length === 0 ? [''] : typed;
  const current = words.at(-1)!;
  const before = words.slice(0, -1);
  const host: TypedHost = {};
  let name: string | undefined;
  let command: Command | undefined;
  const positionals: string[] = [];
  let pendingOption: string | undefined;

  for (const word of before) {
    const options: Options = { ...GLOBAL_OPTIONS, ...command?.options };
    if (pendingOption !== undefined) {
      if (pendingOption === 'host' || pendingOption === 'token') host[pendingOption] = word;
      pendingOption = undefined;
    } else if (word.startsWith('-') && word !== '-') {
      const [spelling, value] = splitOption(word);
      const option = optionNamed(options, spelling);
      if (option && options[option]!.type === 'string') {
        if (value === undefined) pendingOption = option;
        else if (option === 'host' || option === 'token') host[option] = value;
      }
    } else if (!command) {
      name = word;
      command = Object.hasOwn(COMMANDS, word) ? COMMANDS[word] : undefined;
      if (!command) return { words: [] };
    } else {
      positionals.push(word);
    }
  }

  const options: Options = { ...GLOBAL_OPTIONS, ...command?.options };
  if (pendingOption !== undefined) return valuesOf(command, pendingOption, current);
  if (current.startsWith('-')) {
    const flags = Object.keys(options).map((option) => `--${option}`).filter((flag) => flag !== '--version' || !command);
    return matching(flags, current);
  }
  if (!command) return matching(commandNames(), current);

  const arg = command.args[positionals.length] ?? (command.args.at(-1)?.repeats ? command.args.at(-1) : undefined);
  if (name === 'help' && positionals.length === 0) return matching(commandNames(), current);
  if (!arg?.complete) return { words: [] };
  if (arg.complete === 'paths') return { paths: true };
  if (arg.complete === 'apps') return matching((await apps(host)).filter((app) => !(arg.repeats && positionals.includes(app))), current);
  return matching(arg.complete, current);
}

function splitOption(word: string): [string, string | undefined] {
  const equals = word.indexOf('=');
  return equals === -1 ? [word, undefined] : [word.slice(0, equals), word.slice(equals + 1)];
}

function optionNamed(options: Options, spelling: string): string | undefined {
  if (spelling.startsWith('--')) return Object.hasOwn(options, spelling.slice(2)) ? spelling.slice(2) : undefined;
  return Object.keys(options).find((name) => options[name]!.short === spelling.slice(1));
}

/** The value of `--option`: its fixed values, a path for the flags that take one, else nothing. */
function valuesOf(command: Command | undefined, option: string, current: string): Completion {
  const values = command?.optionValues?.[option];
  if (values) return matching(values, current);
  return /dir|out|file|socket/.test(option) ? { paths: true } : { words: [] };
}

function matching(candidates: readonly string[], current: string): Completion {
  return { words: candidates.filter((candidate) => candidate.startsWith(current)) };
}
