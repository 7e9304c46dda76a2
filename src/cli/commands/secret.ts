/**
 * `rustless secret set|ls|rm APP [NAME]`: an app's secrets. A value is read from standard input
 * (never from an argument, which `ps` and shell history would show) and never printed.
 */
import { text } from 'node:stream/consumers';
import type { CommandContext } from '../command.js';
import { printJson, UsageError } from '../output.js';

const USAGE = 'rustless secret set APP NAME < value | secret ls APP | secret rm APP NAME';

export async function secret({ client, positionals, flags }: CommandContext): Promise<number> {
  const [action, app, name] = positionals;
  if (!app || !['set', 'ls', 'rm'].includes(action ?? '')) throw new UsageError(`usage: ${USAGE}`);
  if (action !== 'ls' && !name) throw new UsageError(`secret ${action}: missing NAME\nusage: ${USAGE}`);
  if (action === 'ls' && name) throw new UsageError(`secret ls takes APP only, got also ${JSON.stringify(name)}\nusage: ${USAGE}`);
  const admin = await client();
  switch (action) {
    case 'set': {
      if (process.stdin.isTTY) process.stderr.write(`value of ${name} (input is not shown; end with Enter, then Ctrl-D):\n`);
      // One trailing newline is what `echo` and a terminal add, not part of the secret.
      const value = (await readValue()).replace(/\r?\n$/, '');
      await admin.setSecret(app, name!, Buffer.from(value, 'utf8'));
      process.stderr.write(`set secret ${name} of ${app}; its runner restarts to see it\n`);
      return 0;
    }
    case 'rm':
      await admin.removeSecret(app, name!);
      process.stderr.write(`removed secret ${name} of ${app}\n`);
      return 0;
    default: {
      const secrets = await admin.secrets(app);
      if (flags.json) printJson({ secrets });
      else if (secrets.length === 0) process.stdout.write(`${app} has no secrets\n`);
      else for (const s of secrets) process.stdout.write(`${s.name}\t${s.set ? 'set' : 'NOT SET'}${s.declared ? '' : '\t(not declared in rustless.toml)'}\n`);
      return 0;
    }
  }
}

async function readValue(): Promise<string> {
  if (!process.stdin.isTTY) return text(process.stdin);
  // In a terminal: no echo, so the value is not on the screen.
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('stty', ['-echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
    return await text(process.stdin);
  } finally {
    execFileSync('stty', ['echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
  }
}
