/** What every CLI command receives, and the table of commands with their help. */
import type { AdminClient } from '../admin/admin-client.js';

export type Flags = Record<string, string | boolean | undefined>;

export interface CommandContext {
  positionals: string[];
  flags: Flags;
  /** The admin client; only commands with `needsHost` may call it. */
  client(): AdminClient;
}

export interface Command {
  usage: string;
  summary: string;
  needsHost: boolean;
  /** Flags this command accepts, beyond the global ones. */
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  run(context: CommandContext): Promise<number>;
}
