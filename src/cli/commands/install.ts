/**
 * `rustless install`: installs rust-less as the systemd service from this very package. The
 * installer is scripts/install.mjs (zx, a dependency); a package that npm installed is used
 * where it is (`--in-place`: npm made the `rustless` command and owns the files), a checkout is
 * copied to /usr/local/lib/rustless as `sudo npx zx scripts/install.mjs` does. docs/install.md.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { PACKAGE_ROOT } from '../../version.js';
import type { CommandContext, Flags } from '../command.js';

/** The installer's flags, as `rustless install` takes them (scripts/install.mjs reads the same). */
export const INSTALL_OPTIONS = {
  port: { type: 'string' },
  'gateway-flags': { type: 'string' },
  'enable-memory-cgroup': { type: 'boolean' },
  uninstall: { type: 'boolean' },
  'keep-data': { type: 'boolean' },
  // HTTPS with Caddy in front (scripts/lib/public-https.mjs, docs/webhooks.md); the last four for a staging or test CA.
  public: { type: 'string' },
  email: { type: 'string' },
  'acme-ca': { type: 'string' },
  'acme-ca-root': { type: 'string' },
  'http-port': { type: 'string' },
  'https-port': { type: 'string' },
} as const;

export async function install({ flags }: CommandContext): Promise<number> {
  const zx = createRequire(join(PACKAGE_ROOT, 'package.json')).resolve('zx/cli');
  const installed = PACKAGE_ROOT.split(sep).includes('node_modules');
  const args = [zx, join(PACKAGE_ROOT, 'scripts', 'install.mjs'), ...(installed ? ['--in-place'] : []), ...installerArgs(flags)];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** The parsed flags back as arguments, `--name=value` so that a value starting with `--` stays one. */
function installerArgs(flags: Flags): string[] {
  const args: string[] = [];
  for (const [name, { type }] of Object.entries(INSTALL_OPTIONS)) {
    const value = flags[name];
    if (type === 'boolean' && value === true) args.push(`--${name}`);
    else if (type === 'string' && typeof value === 'string') args.push(`--${name}=${value}`);
  }
  return args;
}
