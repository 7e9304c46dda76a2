/** What every CLI command receives, and what the table of commands says about each. */
import type { AdminClient } from '../admin/admin-client.js';

export type Flags = Record<string, string | boolean | undefined>;

export interface CommandContext {
  positionals: string[];
  flags: Flags;
  /**
   * The admin client, connected on the first call: a command checks its arguments first, so a
   * mistake is reported without a connection tried. Only commands with `needsHost` may call it.
   */
  client(): Promise<AdminClient>;
}

/** What the shell completes at an argument: app names from the host, paths, or fixed words. */
export type ArgCompletion = 'apps' | 'paths' | readonly string[];

/** A positional argument, for the count check, `--help` and shell completion. */
export interface Arg {
  name: string;
  optional?: true;
  /** The last argument may be given any number of times (at least once unless optional). */
  repeats?: true;
  complete?: ArgCompletion;
}

export interface Command {
  usage: string;
  summary: string;
  needsHost: boolean;
  args: readonly Arg[];
  /** Flags this command accepts, beyond the global ones. */
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  /** The values a string flag takes, for shell completion. */
  optionValues?: Record<string, readonly string[]>;
  /** Left out of the help and of completion (the shell scripts' own helper). */
  hidden?: true;
  /** Takes its words as they are, unparsed (the completion helper gets half-typed flags). */
  rawArgs?: true;
  run(context: CommandContext): Promise<number>;
}
