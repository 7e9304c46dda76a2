/**
 * `rustless gateway`: runs the gateway in the foreground until SIGTERM/SIGINT.
 * Under systemd it takes its listeners from the socket unit (LISTEN_FDNAMES `http`, `admin`).
 */
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createAdminHandler } from '../../admin/admin-server.js';
import type { Backend } from '../../backends/backend.js';
import { LocalBackend } from '../../backends/local/local-backend.js';
import { unprivilegedUser } from '../../backends/local/run-as.js';
import { defaultStateDir, SYSTEM_ADMIN_SOCKET } from '../../discovery/find-host.js';
import { Gateway } from '../../gateway/gateway.js';
import { createMetricsHandler } from '../../admin/metrics-handler.js';
import { describeTarget, inheritedSockets, type ListenTarget } from '../../gateway/listeners.js';
import { stopSignal } from '../../gateway/stop-signal.js';
import { ownServiceUnit, restartService } from '../../gateway/own-service.js';
import { parseTrustedProxies } from '../../gateway/client-address.js';
import { PACKAGE_ROOT } from '../../version.js';
import { parseMemorySize } from '../../cargo/jobs.js';
import type { CommandContext, Flags } from '../command.js';
import { UsageError } from '../output.js';

export async function gateway({ flags }: CommandContext): Promise<number> {
  const backendKind = stringFlag(flags, 'backend') ?? 'local';
  if (backendKind !== 'local' && backendKind !== 'systemd') throw new UsageError(`--backend must be local or systemd, got ${JSON.stringify(backendKind)}`);
  const stateDir = stringFlag(flags, 'state-dir') ?? (backendKind === 'systemd' ? '/var/lib/rustless' : defaultStateDir());
  const runtimeDir = stringFlag(flags, 'runtime-dir') ?? (backendKind === 'systemd' ? '/run/rustless' : stateDir);
  const idle = integerFlag(flags, 'idle-timeout', 60);
  // The warm tier (systemd backend): idle apps are frozen, and stopped after this long frozen.
  const frozenTimeoutS = integerFlag(flags, 'frozen-timeout', 900);
  const frozenBudgetBytes = integerFlag(flags, 'frozen-memory-mib', 256) * 2 ** 20;
  // ... or sooner while the machine is short of memory: PSI `some avg10` at or over this percent (0: never).
  const frozenPressurePercent = integerFlag(flags, 'frozen-pressure', 10);
  if (frozenPressurePercent > 100) throw new UsageError(`--frozen-pressure is a percent of time, 0 to 100, got ${frozenPressurePercent}`);
  const freezer = stringFlag(flags, 'freezer') ?? 'auto';
  // The toolchain builds run (src/cargo/toolchain.ts reads it, as `rustless doctor` does).
  const cargo = stringFlag(flags, 'cargo');
  if (cargo !== undefined) process.env.RUSTLESS_CARGO = cargo;
  const buildMemory = stringFlag(flags, 'build-memory');
  if (buildMemory !== undefined) {
    try {
      parseMemorySize(buildMemory);
    } catch (error) {
      throw new UsageError(`--build-memory: ${(error as Error).message}`);
    }
  }
  // A build's time limit (RuntimeMaxSec= of its unit): a Pi Zero, or an emulated Pi, needs more than the default.
  const buildTimeoutS = flags['build-timeout'] === undefined ? undefined : integerFlag(flags, 'build-timeout', 0);
  if (buildTimeoutS !== undefined && buildTimeoutS < 1) throw new UsageError(`--build-timeout is a number of seconds >= 1, got ${JSON.stringify(flags['build-timeout'])}`);
  if (!(FREEZERS as readonly string[]).includes(freezer)) throw new UsageError(`--freezer must be one of ${FREEZERS.join(', ')}, got ${JSON.stringify(freezer)}`);
  // Flags first: a bad token file is one line, before anything is opened.
  const adminPort = stringFlag(flags, 'admin-port');
  const tokenFile = stringFlag(flags, 'admin-token-file');
  if (adminPort !== undefined && !tokenFile) throw new UsageError('--admin-port needs --admin-token-file: the TCP admin listener always requires a bearer token');
  const token = tokenFile && adminPort !== undefined ? await readTokenFile(tokenFile) : undefined;
  // Caddy in front (`install.mjs --public`): whose X-Forwarded-For names the client.
  const trustProxy = stringFlag(flags, 'trust-proxy') ?? process.env.RUSTLESS_TRUST_PROXY;
  let trustedProxies: string[] = [];
  try {
    trustedProxies = trustProxy === undefined ? [] : parseTrustedProxies(trustProxy);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // Before anything runs a subprocess: see stop-signal.ts for why these listeners never go.
  const stop = stopSignal((signal, repeated) => process.stdout.write(`rustless gateway: ${signal}${repeated ? ' again, still draining' : ', draining'}\n`));
  const backend = await createBackend(backendKind, stateDir, runtimeDir, stringFlag(flags, 'cache-dir'), flags['access-log'] === true, freezer as (typeof FREEZERS)[number], { memoryMax: buildMemory, runtimeMaxSec: buildTimeoutS });
  const memory = backend.memoryLimits;
  // One line in the journal at start: the units still say MemoryMax=, and nothing else would tell.
  if (backend.kind === 'systemd' && !memory.enforced) {
    console.error(`rustless: memory is NOT limited: ${memory.reason}; neither the apps' container.memory nor the builds' MemoryMax=${memory.build} is enforced. Fix: ${memory.fix}`);
  }
  const metricsListen = stringFlag(flags, 'metrics-listen');
  const metricsTarget = metricsListen === undefined ? undefined : hostPort(metricsListen, '--metrics-listen');
  if (metricsTarget && flags['no-metrics']) throw new UsageError('--metrics-listen and --no-metrics exclude each other');
  let runnerDir = stringFlag(flags, 'runner-dir') ?? join(PACKAGE_ROOT, 'runner');
  if (backend instanceof LocalBackend) runnerDir = await backend.runnerDirFor(runnerDir);
  const gw = await Gateway.open({ backend, stateDir, runnerDir, defaultIdleTimeoutS: idle, frozenTimeoutS, frozenBudgetBytes, frozenPressurePercent, metrics: !flags['no-metrics'], trustedProxies });
  if (stop.received) {
    // Told to stop while starting: nothing was accepted yet, so systemd's socket keeps every
    // connection for the next gateway.
    await gw.close();
    return 0;
  }

  const inherited = inheritedSockets();
  const publicTarget: ListenTarget = inherited.has('http')
    ? { fd: inherited.get('http')! }
    : { port: integerFlag(flags, 'port', 8080), host: stringFlag(flags, 'listen') ?? '0.0.0.0' };
  const adminTarget: ListenTarget = inherited.has('admin') ? { fd: inherited.get('admin')! } : { path: stringFlag(flags, 'admin-socket') ?? join(runtimeDir, 'admin.sock') };
  const admin: Array<{ target: ListenTarget; handler: ReturnType<typeof createAdminHandler>; mode: number }> = [{ target: adminTarget, handler: createAdminHandler(gw), mode: 0o660 }];

  let advertisement: { stop(): Promise<void> } | undefined;
  if (adminPort !== undefined) {
    // Loopback unless told otherwise: the token travels in clear HTTP (ssh:// is the remote path).
    admin.push({ target: { port: integerFlag(flags, 'admin-port', 0), host: stringFlag(flags, 'admin-listen') ?? '127.0.0.1' }, handler: createAdminHandler(gw, { token: token! }), mode: 0o660 });
  }

  if (metricsTarget) admin.push({ target: metricsTarget, handler: createMetricsHandler(gw), mode: 0o660 });
  const adminServers = await gw.serve(publicTarget, admin);
  // Only where systemd holds the sockets, so that a restart loses no connection (fresh-start.ts).
  const restartQuietS = integerFlag(flags, 'restart-after-builds', 60);
  const ownUnit = inherited.size > 0 ? ownServiceUnit() : undefined;
  if (restartQuietS > 0 && ownUnit !== undefined) gw.restartAfterBuilds(restartQuietS * 1000, () => restartService(ownUnit));
  if (metricsTarget) process.stdout.write(`rustless gateway: Prometheus metrics on http://${metricsListen}/metrics\n`);
  const info = gw.info();
  process.stdout.write(`rustless gateway listening on ${info.publicUrl ?? describeTarget(publicTarget)} (admin ${describeTarget(adminTarget)}, backend ${backendKind}${backend instanceof LocalBackend ? `, builds and functions run as ${backend.runsAs}` : ''}, state ${stateDir})\n`);
  let tcpAdminPort: number | undefined;
  if (adminPort !== undefined) {
    // The port the TCP admin listener got (the flag may say 0: any free port).
    const address = adminServers[1]?.address();
    tcpAdminPort = address && typeof address === 'object' ? address.port : Number(adminPort);
    process.stdout.write(`rustless gateway: TCP admin API on ${describeTarget(admin[1]!.target)}`.replace(/:0$/, `:${tcpAdminPort}`) + '\n');
  }
  if (flags.advertise === true || adminPort !== undefined) {
    // What a laptop on the LAN should use: ssh:// to this host and the admin socket, and the
    // TCP listener when there is one. The SRV port is that listener's, else the public HTTP port.
    const publicPort = Number(/:(\d+)$/.exec(info.publicUrl ?? '')?.[1] ?? 0);
    const adminSocket = 'path' in adminTarget ? adminTarget.path : SYSTEM_ADMIN_SOCKET;
    // Loaded only here: mDNS costs memory, and only an advertising gateway needs it.
    const { advertise } = await import('../../discovery/dns-sd.js');
    advertisement = advertise({ port: tcpAdminPort ?? publicPort, name: `rustless on ${hostname()}`, adminSocket, tcpAdmin: tcpAdminPort !== undefined });
    process.stdout.write(`rustless gateway: advertised as _rustless._tcp (ssh://${hostname()}${adminSocket})\n`);
  }

  await stop.wait;
  await advertisement?.stop();
  await gw.close();
  return 0;
}

const FREEZERS = ['auto', 'cgroup1', 'cgroup2', 'off'] as const;

async function createBackend(
  kind: 'local' | 'systemd',
  stateDir: string,
  runtimeDir: string,
  cacheDir: string | undefined,
  accessLog: boolean,
  freezer: (typeof FREEZERS)[number],
  build: { memoryMax: string | undefined; runtimeMaxSec: number | undefined },
): Promise<Backend> {
  if (kind === 'local') return new LocalBackend({ stateDir, cacheDir, runAs: await unprivilegedUser() });
  const { SystemdBackend } = await import('../../backends/systemd/systemd-backend.js');
  // On systemd every log line is a journal entry: per-request lines only when asked for.
  const buildLimits = { ...(build.memoryMax ? { memoryMax: build.memoryMax } : {}), ...(build.runtimeMaxSec ? { runtimeMaxSec: build.runtimeMaxSec } : {}) };
  return new SystemdBackend({ stateDir, runtimeDir, accessLog, freezer, buildLimits });
}

/** The TCP admin listener's bearer token: one line of errors for a missing, open or short file. */
async function readTokenFile(file: string): Promise<string> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    throw new UsageError(`--admin-token-file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new UsageError(`--admin-token-file ${file}: others can read it (mode ${(info.mode & 0o777).toString(8)}); chmod 600 ${file}`);
  }
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new UsageError(`--admin-token-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (token.length < 16) throw new UsageError(`the token in ${file} is too short (${token.length} characters; use at least 16)`);
  return token;
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
