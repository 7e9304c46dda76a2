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
 * app's build can see it, let alone write to it. A new app's target directory starts as a copy of
 * the shared dependencies (deps-layer.ts), which rust-less builds without any app's code and
 * every build sees read-only: its first build compiles only the app.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, readdir, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { FailureContext } from '../../cargo/build-failure.js';
import { BYTES_PER_JOB, describeJobs, formatBytes } from '../../cargo/jobs.js';
import { CARGO_OUTPUT_ENV, configFlags, runCargo } from '../../cargo/run-cargo.js';
import { DEBIAN_REGISTRY } from '../../cargo/crate-source.js';
import { toolchainEnv, type Toolchain } from '../../cargo/toolchain.js';
import { RustlessError } from '../../errors.js';
import { runCommand } from '../../process/run-command.js';
import type { BuildJob, BuildOutput, DepsCrates } from '../backend.js';
import { DEPS_ROOT, DEPS_USER, DEPS_WORK, depsLayerDir, depsLayerKey, layerReady, publishLayer, seedLayerFor, seedScript } from './deps-layer.js';
import { shellQuote } from './shell-quote.js';
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
  /** False without a memory controller: MemoryMax= is then set but holds nothing, and the log says so. */
  memoryEnforced?: boolean;
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
/** Static glibc: the binary runs alone in a `FROM scratch` image. Part of the shared dependencies' key. */
const RUSTFLAGS = '-C target-feature=+crt-static';
/** The line a build's script ends with: its cgroup's peak memory and OOM kills. */
const MEMORY_MARK = 'rustless-build-memory:';
/** The line a build's script starts with: the jobs it gave cargo, and why. */
const JOBS_MARK = 'rustless-build-jobs:';
const HOME_DIRS = ['/root', '/home', '/run/user'];

/** One transient build unit: who it runs as, where its cache is, what it sees. */
export interface SandboxSpec {
  unit: string;
  description: string;
  /** The dynamic user's name. */
  user: string;
  /** systemd's `CacheDirectory=` (relative to /var/cache): the unit's only writable place. */
  cacheDirectory: string;
  network: boolean;
  /** Bound in read-only: the build's own directory, a toolchain under /root or /home. */
  readOnlyPaths: readonly string[];
}

/** The sandbox of an app's build. */
export function appSandbox(job: Pick<BuildJob, 'app' | 'buildId' | 'buildDir' | 'manifest'>, toolchainPaths: readonly string[] = []): SandboxSpec {
  return {
    unit: buildUnitName(job.app, job.buildId),
    description: `rust-less build #${job.buildId} of ${job.app}`,
    user: buildUserName(job.app),
    cacheDirectory: `${BUILD_CACHE}/${job.app}`,
    network: job.manifest.container.network,
    readOnlyPaths: [job.buildDir, ...toolchainPaths],
  };
}

/** The systemd-run prefix that runs a command in a build sandbox. */
export function sandboxCommand(spec: SandboxSpec, stateDir: string, limits: BuildLimits, env: Record<string, string>): string[] {
  const { network } = spec;
  // A toolchain in a home directory is bound into an empty, read-only /root or /home (tmpfs).
  const homeBound = spec.readOnlyPaths.some((path) => HOME_DIRS.some((home) => isInside(path, home)));
  const properties = [
    // A throw-away unprivileged user: no root, no capabilities, files of its own only in its cache.
    'DynamicUser=yes',
    `User=${spec.user}`,
    `CacheDirectory=${spec.cacheDirectory}`,
    // systemd 257 mounts a dynamic user's directories noexec (idmapped); cargo runs the build
    // scripts and proc macros it compiles there (systemd/systemd#36296). A namespace test host
    // cannot idmap, so only a real kernel (the arm64 VM) shows the EACCES without this.
    `ExecPaths=${join(CACHE_ROOT, spec.cacheDirectory)}`,
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
    ...spec.readOnlyPaths.map((path) => `BindReadOnlyPaths=${path}`),
    // The gateway's flags and the admin token; the other apps' units.
    'InaccessiblePaths=-/etc/rustless -/etc/containers/systemd -/var/log',
    // Read-only under ProtectSystem=strict already; said again because every build reads it.
    `ReadOnlyPaths=-${DEPS_ROOT}`,
    'ProtectSystem=strict',
    `ProtectHome=${homeBound ? 'tmpfs' : 'yes'}`,
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
    `--unit=${spec.unit}`,
    '--pipe',
    '--wait',
    '--collect',
    '--quiet',
    `--description=${spec.description}`,
    ...properties.map((property) => `--property=${property}`),
    ...Object.entries(env).map(([key, value]) => `--setenv=${key}=${value}`),
    '--',
  ];
}

/**
 * The script an app's unit runs: seeds the app's target directory from the shared dependencies
 * when it did not come from them, copies the runner crate out of the read-only build dir into
 * the app's cache (cargo writes Cargo.lock next to Cargo.toml), always at the same path so the
 * target directory's fingerprints stay valid, runs cargo there, then reports its memory.
 */
export function buildScript(buildDir: string, cacheDir: string, cargo: readonly string[], layerKey?: string): string[] {
  const crate = join(cacheDir, 'crate');
  const sources = CRATE_FILES.map((file) => shellQuote(join(buildDir, file))).join(' ');
  return wrapBuild(
    [...(layerKey ? seedScript(cacheDir, layerKey) : []), `rm -rf ${shellQuote(crate)}`, `mkdir ${shellQuote(crate)}`, `cp -R ${sources} ${shellQuote(crate)}/`, `cd ${shellQuote(crate)}`, '"$@"'],
    cargo,
  );
}

/**
 * The script of a shared-dependencies build: each generated crate in turn, into one target dir
 * that starts empty or as a copy of the published layer `seedLayer` (root's, read-only here).
 */
export function depsBuildScript(cratesDir: string, names: readonly string[], workDir: string, cargo: readonly string[], seedLayer?: string): string[] {
  const crates = join(workDir, 'crates');
  const target = join(workDir, 'target');
  return wrapBuild(
    [
      // Nothing an earlier build left here is trusted into a layer: only a published layer is.
      `rm -rf ${shellQuote(target)} ${shellQuote(crates)}`,
      ...(seedLayer
        ? [
            `cp -R --preserve=mode,timestamps ${shellQuote(join(seedLayer, 'target'))} ${shellQuote(target)}`,
            `echo ${shellQuote(`rustless: starting from the shared dependencies in ${seedLayer} (same rustc): cargo compiles only what changed`)} >&2`,
          ]
        : []),
      `mkdir ${shellQuote(crates)}`,
      ...names.flatMap((name) => [`cp -R ${shellQuote(join(cratesDir, name))} ${shellQuote(crates)}/`, `(cd ${shellQuote(join(crates, name))} && "$@")`]),
    ],
    cargo,
  );
}

/**
 * Runs `lines` (they run cargo as "$@") in a subshell, after choosing cargo's jobs the way
 * cargoJobs() does from what the unit itself sees (MemAvailable, its cgroup's memory limit,
 * its CPUs: the gateway's /proc hides meminfo); then prints the unit's peak memory and OOM
 * kills from its memory cgroup (v1 on the test host, cgroup2 on a Pi) and exits with the
 * subshell's status.
 */
function wrapBuild(lines: readonly string[], cargo: readonly string[]): string[] {
  const script = [
    "cg=$(sed -n 's/^[0-9]*:memory:\\(.*\\)$/\\1/p' /proc/self/cgroup)",
    'mem=/sys/fs/cgroup/memory$cg',
    'if [ -z "$cg" ] || [ ! -r "$mem/memory.max_usage_in_bytes" ]; then',
    "  mem=/sys/fs/cgroup$(sed -n 's/^0::\\(.*\\)$/\\1/p' /proc/self/cgroup)",
    'fi',
    'cpus=$(nproc)',
    "avail=$(sed -n 's/^MemAvailable: *\\([0-9]*\\) kB$/\\1/p' /proc/meminfo)",
    'avail=$(( ${avail:-0} * 1024 ))',
    'limit=$(cat "$mem/memory.limit_in_bytes" 2>/dev/null || cat "$mem/memory.max" 2>/dev/null || echo max)',
    // cgroup v1 says "no limit" with a number near 2^63.
    '[ "$limit" = max ] || [ "$limit" -lt 4611686018427387904 ] || limit=max',
    'budget=$avail',
    'if [ "$limit" != max ] && { [ "$budget" -eq 0 ] || [ "$limit" -lt "$budget" ]; }; then budget=$limit; fi',
    'jobs=$cpus',
    `if [ "$budget" -gt 0 ] && [ $((budget / ${BYTES_PER_JOB})) -lt "$jobs" ]; then jobs=$((budget / ${BYTES_PER_JOB})); fi`,
    '[ "$jobs" -ge 1 ] || jobs=1',
    'export CARGO_BUILD_JOBS=$jobs',
    `echo "${JOBS_MARK} jobs=$jobs cpus=$cpus mem_available=$avail limit=$limit" >&2`,
    '(',
    'set -eu',
    ...lines,
    // Not `) && ... || ...`: in a tested context the subshell would ignore its set -e.
    ')',
    'status=$?',
    'peak=$(cat "$mem/memory.max_usage_in_bytes" 2>/dev/null || cat "$mem/memory.peak" 2>/dev/null || true)',
    'oom=$(sed -n "s/^oom_kill //p" "$mem/memory.oom_control" 2>/dev/null || sed -n "s/^oom_kill //p" "$mem/memory.events" 2>/dev/null || true)',
    `echo "${MEMORY_MARK} peak=\${peak:-unknown} oom_kill=\${oom:-unknown}" >&2`,
    'exit $status',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'rustless-build', ...cargo];
}

/** The jobs line of a build's script as the build log says it, or undefined for any other line. */
export function parseJobsLine(line: string): string | undefined {
  if (!line.startsWith(JOBS_MARK)) return undefined;
  const field = (name: string): string | undefined => new RegExp(`${name}=(\\S+)`).exec(line)?.[1];
  const number = (name: string): number | undefined => {
    const value = Number(field(name));
    return Number.isFinite(value) && value > 0 ? value : undefined;
  };
  return describeJobs(number('jobs') ?? 1, { cpus: number('cpus') ?? 1, memAvailable: number('mem_available'), memoryMax: number('limit') });
}

/** What a build's memory line said. */
export interface BuildMemory {
  peakBytes: number | undefined;
  oomKills: number | undefined;
}

/** The figures of a memory line, or undefined for any other line. */
export function parseMemoryLine(line: string): BuildMemory | undefined {
  if (!line.startsWith(MEMORY_MARK)) return undefined;
  const number = (name: string): number | undefined => {
    const value = new RegExp(`${name}=(\\d+)`).exec(line)?.[1];
    return value === undefined ? undefined : Number(value);
  };
  return { peakBytes: number('peak'), oomKills: number('oom_kill') };
}

/**
 * Builds the runner crate in the sandbox, from the shared dependencies (built first when there
 * are none for this toolchain, crate source and target); returns the static binary, copied
 * into the build dir.
 */
export async function sandboxedBuild(job: BuildJob, output: BuildOutput, { stateDir, limits, memoryEnforced = true, signal }: SandboxedBuildOptions): Promise<string> {
  const { toolchain } = job;
  const target = toolchain.host;
  const toolchainPaths = toolchainBinds(toolchain);
  // The jobs: CARGO_BUILD_JOBS, set by the script inside the unit (wrapBuild).
  const cargo = [toolchain.cargo, 'build', '--release', '--target', target, ...configFlags(job.cargoConfig)];
  const runOptions: Omit<RunOptions, 'what'> = { stateDir, limits, signal, toolchain, failure: { crateSource: job.crateSource, registry: DEBIAN_REGISTRY, toolchain } };

  let layerKey: string | undefined;
  if (job.depsCrates) {
    layerKey = await depsLayerKey({ toolchain, target, cargoConfig: job.cargoConfig, rustflags: RUSTFLAGS, cratesFingerprint: job.depsCrates.fingerprint });
    if (layerReady(layerKey)) {
      output.line(`rustless: dependencies prebuilt by rust-less for this toolchain, crate source and target: ${depsLayerDir(layerKey)} (read-only)`);
    } else {
      output.line(`rustless: building the shared dependencies ${layerKey} first (once per toolchain, crate source and target; no app's code runs in it)`);
      try {
        await buildLayer(job, job.depsCrates, layerKey, toolchainPaths, cargo, output, runOptions);
        await publishLayer(layerKey);
      } catch (error) {
        if (signal?.aborted) throw error;
        output.line(`rustless: the shared dependencies could not be built, so this build compiles its own: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }

  const cacheDir = appCacheDir(job.app);
  const spec = appSandbox(job, toolchainPaths);
  await readableByOthers(job.buildDir, CRATE_FILES);
  output.line(
    `rustless: building in the sandbox unit ${spec.unit}.service as the dynamic user ${spec.user} ` +
      `(${spec.network ? 'with' : 'no'} network, MemoryMax=${limits.memoryMax}${memoryEnforced ? '' : ' NOT enforced: no memory controller'}, CPUQuota=${limits.cpuQuota}, TasksMax=${limits.tasksMax})`,
  );
  const seedFrom = layerKey !== undefined && layerReady(layerKey) ? layerKey : undefined;
  await runInSandbox(spec, cacheDir, buildScript(job.buildDir, cacheDir, cargo, seedFrom), output, { ...runOptions, what: 'build' });
  const binaryPath = join(job.buildDir, 'runner');
  await copyBuildOutput(cacheDir, join(cacheDir, 'target', target, 'release', job.binaryName), binaryPath);
  return binaryPath;
}

interface RunOptions {
  stateDir: string;
  limits: BuildLimits;
  signal: AbortSignal | undefined;
  toolchain: Toolchain;
  failure: FailureContext;
  /** `build`, or `shared dependencies' build`: for the memory lines. */
  what: string;
}

/** Runs `command` in the sandbox `spec`; reports its peak memory, and an OOM kill as one, with the limit. */
async function runInSandbox(spec: SandboxSpec, cacheDir: string, command: string[], output: BuildOutput, { stateDir, limits, signal, toolchain, failure, what }: RunOptions): Promise<void> {
  const env: Record<string, string> = {
    ...CARGO_OUTPUT_ENV,
    ...toolchainEnv(toolchain),
    PATH: `${dirname(toolchain.cargo)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: join(cacheDir, 'cargo-home'),
    CARGO_HOME: join(cacheDir, 'cargo-home'),
    CARGO_TARGET_DIR: join(cacheDir, 'target'),
    // With an explicit --target, RUSTFLAGS apply to the target only: proc-macros and build
    // scripts still build for the host, dynamically, as they must.
    RUSTFLAGS,
  };
  // The last memory line counts: a build script can print one too, but only about its own build.
  let memory: BuildMemory | undefined;
  const watched: BuildOutput = {
    progress: (done, total, compiled) => output.progress(done, total, compiled),
    line: (text) => {
      const parsed = parseMemoryLine(text);
      const jobs = parsed ? undefined : parseJobsLine(text);
      if (parsed) memory = parsed;
      else output.line(jobs === undefined ? text : `rustless: ${jobs}`);
    },
  };
  const onAbort = (): void => void runCommand('systemctl', ['stop', `${spec.unit}.service`]);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await runCargo([], {
      cwd: '/',
      output: capped(watched, limits.maxOutputLines),
      ...(signal ? { signal } : {}),
      command: [...sandboxCommand(spec, stateDir, limits, env), ...command],
      failure,
    });
  } catch (error) {
    if (!memory?.oomKills || signal?.aborted) throw error;
    throw new RustlessError(
      'RUSTLESS_BUILD_FAILED',
      `rustless: the ${what} ran out of memory: the kernel killed a compiler at the build's limit MemoryMax=${limits.memoryMax} ` +
        `(peak ${formatBytes(memory.peakBytes)}). Give builds more memory (the gateway's --build-memory) or free some on this machine.\n\n${(error as Error).message}`,
      { cause: error, details: { oomKill: true, memoryMax: limits.memoryMax } },
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (memory) output.line(`rustless: peak build memory ${formatBytes(memory.peakBytes)} (${what}; MemoryMax=${limits.memoryMax}${memory.oomKills ? `, ${memory.oomKills} OOM kill(s)` : ''})`);
  }
}

/** Builds layer `key` from the crates the builder wrote, in a sandbox of its own. */
async function buildLayer(job: BuildJob, crates: DepsCrates, key: string, toolchainPaths: string[], cargo: string[], output: BuildOutput, runOptions: Omit<RunOptions, 'what'>): Promise<void> {
  await readableByOthers(crates.dir, crates.names);
  const workDir = join(CACHE_ROOT, DEPS_WORK);
  const spec: SandboxSpec = {
    unit: `rustless-build-deps-${key.slice(0, 12)}`,
    description: `rust-less: the shared dependencies ${key}`,
    user: DEPS_USER,
    cacheDirectory: DEPS_WORK,
    // crates.io needs the network; Debian's registry is on disk.
    network: job.crateSource === 'crates-io',
    readOnlyPaths: [crates.dir, ...toolchainPaths],
  };
  const seedLayer = await seedLayerFor(job.toolchain, job.toolchain.host);
  await runInSandbox(spec, workDir, depsBuildScript(crates.dir, crates.names, workDir, cargo, seedLayer), output, { ...runOptions, what: "shared dependencies' build" });
}

/** The toolchain's directories a sandbox must have bound in: none for one under /usr or /opt, which it sees anyway. */
function toolchainBinds(toolchain: Toolchain): string[] {
  const dirs = [toolchain.sysroot, dirname(toolchain.cargo), dirname(toolchain.rustc)];
  return [...new Set(dirs.filter((dir) => HOME_DIRS.some((home) => isInside(dir, home))))];
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
    progress: (done, total, compiled) => output.progress(done, total, compiled),
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
