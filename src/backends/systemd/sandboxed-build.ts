/**
 * Compiles a runner crate inside a transient systemd unit (`rustless-build-<app>-<id>`). The
 * crate's `build.rs` files and proc-macros are untrusted code, so the unit is a throw-away
 * unprivileged user (`DynamicUser=`) that sees nothing of the host it could use or leak: no
 * socket on the host (`/run` is an empty tmpfs, no AF_UNIX), no `/var/lib` but its own build
 * directory read-only, no other app's cache, no processes but its own; and it has task, memory,
 * CPU and time limits. The binary is linked statically so it runs alone in a `FROM scratch` image.
 *
 * Caches are per app: `/var/cache/rustless/build/<app>/` (systemd's `CacheDirectory=`, owned by
 * the app's dynamic user) holds a copy of the crate, cargo's home and the target directory. It
 * persists between that app's builds (a one-line change recompiles only the app), and no other
 * app's build can see it, let alone write to it.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, readdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { execa } from 'execa';
import { CARGO_OUTPUT_ENV, cargoCommand, configFlags, runCargo } from '../../cargo/run-cargo.js';
import { RustlessError } from '../../errors.js';
import type { BuildJob, BuildOutput } from '../backend.js';
import { run } from './systemctl.js';

export interface BuildLimits {
  /** systemd MemoryMax= of the build unit. */
  memoryMax: string;
  /** systemd CPUQuota= of the build unit (`150%` is one and a half cores). */
  cpuQuota: string;
  /** The build is killed after this many seconds. */
  runtimeMaxSec: number;
  /** systemd TasksMax= of the build unit: processes and threads together. */
  tasksMax: number;
  /** Build output past this many lines is dropped (a build cannot flood the gateway's memory). */
  maxOutputLines: number;
}

export const DEFAULT_BUILD_LIMITS: BuildLimits = { memoryMax: '2G', cpuQuota: '200%', runtimeMaxSec: 900, tasksMax: 256, maxOutputLines: 20_000 };

/** Relative to /var/cache: systemd's `CacheDirectory=` of an app's builds is `<this>/<app>`. */
export const BUILD_CACHE = 'rustless/build';
/** Where systemd puts `CacheDirectory=` (for a dynamic user, a symlink into /var/cache/private). */
export const CACHE_ROOT = '/var/cache';

export interface SandboxedBuildOptions {
  /** `/var/lib/rustless`: hidden from the build except the build's own directory. */
  stateDir: string;
  limits: BuildLimits;
  signal?: AbortSignal | undefined;
}

export function buildUnitName(app: string, buildId: number): string {
  return `rustless-build-${app}-${buildId}`;
}

/** The app's build cache as the gateway (and the build) sees it: `/var/cache/rustless/build/<app>`. */
export function appCacheDir(app: string): string {
  return join(CACHE_ROOT, BUILD_CACHE, app);
}

/**
 * The dynamic user an app's builds run as. One name per app, so systemd hashes it to the same
 * uid build after build and the app's cache needs no chown; two apps never share one.
 * User names are at most 31 characters: a long app name goes by a hash.
 */
export function buildUserName(app: string): string {
  const name = `rustless-build-${app}`;
  return name.length <= 31 ? name : `rustless-build-${createHash('sha256').update(app).digest('hex').slice(0, 16)}`;
}

/** The files of a build directory the runner crate consists of; the rest (logs, image) stays out. */
const CRATE_FILES = ['Cargo.toml', 'src', 'app'];

/** The systemd-run prefix that runs a command in the build sandbox. */
export function sandboxCommand(job: Pick<BuildJob, 'app' | 'buildId' | 'buildDir' | 'manifest'>, stateDir: string, limits: BuildLimits, env: Record<string, string>): string[] {
  const network = job.manifest.container.network;
  const properties = [
    // A throw-away unprivileged user: no root, no capabilities, files of its own only in its cache.
    'DynamicUser=yes',
    `User=${buildUserName(job.app)}`,
    `CacheDirectory=${BUILD_CACHE}/${job.app}`,
    // The gateway (root without capabilities) reads the binary out of it.
    'CacheDirectoryMode=0755',
    'UMask=0022',
    // Crates come from the Debian registry on disk or, when the app asks for network, crates.io.
    `PrivateNetwork=${network ? 'no' : 'yes'}`,
    // No path socket at all: systemd's private socket, D-Bus, the admin API, Podman's all live
    // under /run, which is an empty tmpfs here; and no AF_UNIX socket can be made anyway.
    'TemporaryFileSystem=/run:ro',
    `RestrictAddressFamilies=${network ? 'AF_INET AF_INET6' : 'AF_INET'}`,
    // Of /var/lib (the registry, other apps' sources, Podman's storage) only its own build dir, read-only.
    'TemporaryFileSystem=/var/lib:ro',
    ...(isInside(stateDir, '/var/lib') ? [] : [`TemporaryFileSystem=${stateDir}:ro`]),
    `BindReadOnlyPaths=${job.buildDir}`,
    // The gateway's flags and the admin token; the other apps' units.
    'InaccessiblePaths=-/etc/rustless -/etc/containers/systemd -/var/log',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'PrivateIPC=yes',
    'ProtectProc=invisible',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'RestrictSUIDSGID=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'LockPersonality=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallErrorNumber=EPERM',
    `TasksMax=${limits.tasksMax}`,
    `MemoryMax=${limits.memoryMax}`,
    'MemorySwapMax=0',
    `CPUQuota=${limits.cpuQuota}`,
    `RuntimeMaxSec=${limits.runtimeMaxSec}`,
    // Nice to the gateway and the apps serving requests meanwhile.
    'Nice=10',
  ];
  return [
    'systemd-run',
    `--unit=${buildUnitName(job.app, job.buildId)}`,
    '--pipe',
    '--wait',
    '--collect',
    '--quiet',
    `--description=rust-less build #${job.buildId} of ${job.app}`,
    ...properties.map((property) => `--property=${property}`),
    ...Object.entries(env).map(([key, value]) => `--setenv=${key}=${value}`),
    '--',
  ];
}

/**
 * The script the unit runs: copies the runner crate out of the read-only build dir into the
 * app's cache (cargo writes Cargo.lock next to Cargo.toml), always at the same path so the
 * target directory's fingerprints stay valid, then runs cargo there.
 */
export function buildScript(buildDir: string, cacheDir: string, cargo: readonly string[]): string[] {
  const crate = join(cacheDir, 'crate');
  const sources = CRATE_FILES.map((file) => shellQuote(join(buildDir, file))).join(' ');
  const script = [
    'set -eu',
    `rm -rf ${shellQuote(crate)}`,
    `mkdir ${shellQuote(crate)}`,
    `cp -R ${sources} ${shellQuote(crate)}/`,
    `cd ${shellQuote(crate)}`,
    'exec "$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'rustless-build', ...cargo];
}

let triple: Promise<string> | undefined;

/** The host's target triple (`rustc -vV`), asked once per process. */
export function hostTriple(): Promise<string> {
  if (triple) return triple;
  const asked = (async () => {
    const result = await execa('rustc', ['-vV'], { reject: false, stdin: 'ignore' });
    const host = /^host: (\S+)$/m.exec(result.stdout)?.[1];
    if (!host) throw new RustlessError('RUSTLESS_BUILD_FAILED', `cannot tell the host's target triple from \`rustc -vV\`: ${String(result.stderr || result.stdout || result.shortMessage).trim()}`);
    return host;
  })();
  triple = asked;
  // A failure is not remembered: rustc may be installed by the next build.
  asked.catch(() => (triple = undefined));
  return asked;
}

/** Builds the runner crate in the sandbox; returns the path of the static binary, copied into the build dir. */
export async function sandboxedBuild(job: BuildJob, output: BuildOutput, { stateDir, limits, signal }: SandboxedBuildOptions): Promise<string> {
  const target = await hostTriple();
  const cacheDir = appCacheDir(job.app);
  const targetDir = join(cacheDir, 'target');
  const cargoHome = join(cacheDir, 'cargo-home');
  const env: Record<string, string> = {
    ...CARGO_OUTPUT_ENV,
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: cargoHome,
    CARGO_HOME: cargoHome,
    CARGO_TARGET_DIR: targetDir,
    // With an explicit --target, RUSTFLAGS apply to the target only: proc-macros and build
    // scripts still build for the host, dynamically, as they must.
    RUSTFLAGS: '-C target-feature=+crt-static',
  };
  await readableByOthers(job.buildDir, CRATE_FILES);
  const unit = buildUnitName(job.app, job.buildId);
  const onAbort = (): void => void execa('systemctl', ['stop', `${unit}.service`], { reject: false });
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    output.line(
      `rustless: building in the sandbox unit ${unit}.service as the dynamic user ${buildUserName(job.app)} ` +
        `(${job.manifest.container.network ? 'with' : 'no'} network, MemoryMax=${limits.memoryMax}, CPUQuota=${limits.cpuQuota}, TasksMax=${limits.tasksMax})`,
    );
    const cargo = [cargoCommand(), 'build', '--release', '--target', target, ...configFlags(job.cargoConfig)];
    await runCargo([], {
      cwd: job.crateDir,
      output: capped(output, limits.maxOutputLines),
      ...(signal ? { signal } : {}),
      command: [...sandboxCommand(job, stateDir, limits, env), ...buildScript(job.buildDir, cacheDir, cargo)],
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const binaryPath = join(job.buildDir, 'runner');
  await copyBuildOutput(cacheDir, join(targetDir, target, 'release', job.binaryName), binaryPath);
  return binaryPath;
}

/**
 * Copies `file`, which the build wrote into `cacheDir`, to `dest`. The build owned that
 * directory: the file or a directory on its way may be a symlink it planted (say, to
 * /etc/shadow, which the gateway as root could read) so it must resolve to a regular file
 * inside `cacheDir`. No build process is left to swap it meanwhile: the unit has ended.
 */
export async function copyBuildOutput(cacheDir: string, file: string, dest: string): Promise<void> {
  const root = await realpath(cacheDir);
  const resolved = await realpath(file).catch((error: NodeJS.ErrnoException) => {
    throw new RustlessError('RUSTLESS_BUILD_FAILED', `the build left no binary at ${file} (${error.code ?? error.message})`);
  });
  if (!resolved.startsWith(root + sep) || !(await lstat(resolved)).isFile()) {
    throw new RustlessError('RUSTLESS_BUILD_FAILED', `the build's binary ${file} leads to ${resolved}, not to a file of the build's own cache ${cacheDir}: refused`);
  }
  await copyFile(resolved, dest, constants.COPYFILE_EXCL);
}

/** Removes an app's build cache (owned by its dynamic user, so through a transient root unit). */
export async function removeAppCache(app: string): Promise<void> {
  // The dynamic user's directory lives in /var/cache/private; /var/cache/rustless/build/<app> links to it.
  const paths = [join(CACHE_ROOT, 'private', BUILD_CACHE, app), appCacheDir(app)];
  await run('systemd-run', ['--pipe', '--wait', '--collect', '--quiet', `--description=rust-less: remove the build cache of ${app}`, '--', 'rm', '-rf', '--one-file-system', ...paths]);
}

/**
 * Opens the runner crate's files to other users, so the build's dynamic user can read them:
 * the gateway makes them with UMask=0027, and outside the build's sandbox no other user can
 * reach them anyway (the state dir is 0750). Symlinks are left alone (uploads have none).
 */
async function readableByOthers(dir: string, names: readonly string[]): Promise<void> {
  await chmod(dir, 0o755);
  const open = async (path: string): Promise<void> => {
    const stat = await lstat(path).catch(() => undefined);
    if (stat?.isFile()) await chmod(path, (stat.mode & 0o7777) | 0o444);
    if (!stat?.isDirectory()) return;
    await chmod(path, (stat.mode & 0o7777) | 0o555);
    for (const entry of await readdir(path)) await open(join(path, entry));
  };
  for (const name of names) await open(join(dir, name));
}

/** `output` that passes on at most `maxLines` lines, then says once that the rest was dropped. */
function capped(output: BuildOutput, maxLines: number): BuildOutput {
  let lines = 0;
  return {
    progress: (done, total) => output.progress(done, total),
    line: (text) => {
      lines++;
      if (lines <= maxLines) output.line(text);
      else if (lines === maxLines + 1) output.line(`rustless: the build printed more than ${maxLines} lines; the rest is not shown`);
    },
  };
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + sep);
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
