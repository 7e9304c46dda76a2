/**
 * `rustless gateway`: runs the gateway in the foreground until SIGTERM/SIGINT.
 * Under systemd it takes its listeners from the socket unit (LISTEN_FDNAMES `http`, `admin`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAdminHandler } from '../../admin/admin-server.js';
import type { Backend } from '../../backends/backend.js';
import { LocalBackend } from '../../backends/local/local-backend.js';
import { defaultStateDir } from '../../discovery/find-host.js';
import { Gateway } from '../../gateway/gateway.js';
import { createMetricsHandler } from '../../metrics/metrics-handler.js';
import { describeTarget, inheritedSockets, type ListenTarget } from '../../gateway/listeners.js';
import { PACKAGE_ROOT } from '../../version.js';
import type { CommandContext, Flags } from '../command.js';
import { UsageError } from '../output.js';

export async function gateway({ flags }: CommandContext): Promise<number> {
  const backendKind = stringFlag(flags, 'backend') ?? 'local';
  if (backendKind !== 'local' && backendKind !== 'systemd') throw new UsageError(`--backend must be local or systemd, got ${JSON.stringify(backendKind)}`);
  const stateDir = stringFlag(flags, 'state-dir') ?? (backendKind === 'systemd' ? '/var/lib/rustless' : defaultStateDir());
  const runtimeDir = stringFlag(flags, 'runtime-dir') ?? (backendKind === 'systemd' ? '/run/rustless' : stateDir);
  const idle = integerFlag(flags, 'idle-timeout', 60);
  const backend = await createBackend(backendKind, stateDir, runtimeDir, stringFlag(flags, 'cache-dir'), flags['access-log'] === true);
  const metricsListen = stringFlag(flags, 'metrics-listen');
  const metricsTarget = metricsListen === undefined ? undefined : hostPort(metricsListen, '--metrics-listen');
  if (metricsTarget && flags['no-metrics']) throw new UsageError('--metrics-listen and --no-metrics exclude each other');
  const gw = await Gateway.open({ backend, stateDir, runnerDir: stringFlag(flags, 'runner-dir') ?? join(PACKAGE_ROOT, 'runner'), defaultIdleTimeoutS: idle, metrics: !flags['no-metrics'] });

  const inherited = inheritedSockets();
  const publicTarget: ListenTarget = inherited.has('http')
    ? { fd: inherited.get('http')! }
    : { port: integerFlag(flags, 'port', 8080), host: stringFlag(flags, 'listen') ?? '0.0.0.0' };
  const adminTarget: ListenTarget = inherited.has('admin') ? { fd: inherited.get('admin')! } : { path: stringFlag(flags, 'admin-socket') ?? join(runtimeDir, 'admin.sock') };
  const admin: Array<{ target: ListenTarget; handler: ReturnType<typeof createAdminHandler>; mode: number }> = [{ target: adminTarget, handler: createAdminHandler(gw), mode: 0o660 }];

  const adminPort = stringFlag(flags, 'admin-port');
  let advertisement: { stop(): Promise<void> } | undefined;
  if (adminPort !== undefined) {
    const tokenFile = stringFlag(flags, 'admin-token-file');
    if (!tokenFile) throw new UsageError('--admin-port needs --admin-token-file: the TCP admin listener always requires a bearer token');
    const token = (await readFile(tokenFile, 'utf8')).trim();
    if (token.length < 16) throw new UsageError(`the token in ${tokenFile} is too short (${token.length} characters; use at least 16)`);
    admin.push({ target: { port: integerFlag(flags, 'admin-port', 0), host: stringFlag(flags, 'listen') ?? '0.0.0.0' }, handler: createAdminHandler(gw, { token }), mode: 0o660 });
  }

  if (metricsTarget) admin.push({ target: metricsTarget, handler: createMetricsHandler(gw), mode: 0o660 });
  const adminServers = await gw.serve(publicTarget, admin);
  if (metricsTarget) process.stdout.write(`rustless gateway: Prometheus metrics on http://${metricsListen}/metrics\n`);
  const info = gw.info();
  process.stdout.write(`rustless gateway listening on ${info.publicUrl ?? describeTarget(publicTarget)} (admin ${describeTarget(adminTarget)}, backend ${backendKind}, state ${stateDir})\n`);
  if (adminPort !== undefined) {
    // The port the TCP admin listener got (the flag may say 0: any free port).
    const address = adminServers[1]?.address();
    const port = address && typeof address === 'object' ? address.port : Number(adminPort);
    process.stdout.write(`rustless gateway: TCP admin API on port ${port}, advertised as _rustless._tcp\n`);
    // Loaded only here: mDNS is for the TCP admin listener, and its module costs memory.
    const { advertise } = await import('../../discovery/dns-sd.js');
    advertisement = advertise({ port, name: `rustless on ${(await import('node:os')).hostname()}` });
  }

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      process.stdout.write(`rustless gateway: ${signal}, draining\n`);
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  await advertisement?.stop();
  await gw.close();
  return 0;
}

async function createBackend(kind: 'local' | 'systemd', stateDir: string, runtimeDir: string, cacheDir: string | undefined, accessLog: boolean): Promise<Backend> {
  if (kind === 'local') return new LocalBackend({ stateDir, cacheDir });
  const { SystemdBackend } = await import('../../backends/systemd/systemd-backend.js');
  // On systemd every log line is a journal entry: per-request lines only when asked for.
  return new SystemdBackend({ stateDir, runtimeDir, accessLog });
}

/** `127.0.0.1:9464` or `[::1]:9464`. */
function hostPort(text: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new UsageError(`${flag} must be HOST:PORT (such as 127.0.0.1:9464), got ${JSON.stringify(text)}`);
  return { host: (match[1] ?? match[2])!, port };
}

function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

function integerFlag(flags: Flags, name: string, fallback: number): number {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}
