/** `rustless help [COMMAND]`. */
import type { CommandContext } from '../command.js';
import { commandHelp, findCommand, helpText } from '../help.js';

export async function helpCommand({ positionals }: CommandContext): Promise<number> {
  const [name] = positionals;
  process.stdout.write(name === undefined ? helpText() : commandHelp(findCommand(name)));
  return 0;
}
