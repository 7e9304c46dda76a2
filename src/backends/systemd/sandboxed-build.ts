/**
 * Compiles a runner crate inside a transient systemd unit (`rustless-build-<app>-<id>`): no
 * network unless the app asks for it, a read-only system with only the build dir and the
 * cargo cache writable, no capabilities, and memory, CPU and time limits. The binary is linked
 * statically so it runs alone in a `FROM scratch` image.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CARGO_OUTPUT_ENV, cargoCommand, configFlags, runCargo } from '../../builder/cargo.js';
import { RustlessError } from '../../errors.js';
import type { BuildJob, BuildOutput } from '../backend.js';

export interface BuildLimits {
  /** systemd MemoryMax= of the build unit. */
  memoryMax: string;
  /** systemd CPUQuota= of the build unit (`150%` is one and a half cores). */
  cpuQuota: string;
  /** The build is killed after this many seconds. */
  runtimeMaxSec: number;
}

export const DEFAULT_BUILD_LIMITS: BuildLimits = { memoryMax: '2G', cpuQuota: '200%', runtimeMaxSec: 900 };

export interface SandboxedBuildOptions {
  /** Holds `target/` (dependency artifacts shared between builds) and cargo's home. */
  cacheDir: string;
  limits: BuildLimits;
  signal?: AbortSignal | undefined;
}

export function buildUnitName(app: string, buildId: number): string {
  return `rustless-build-${app}-${buildId}`;
}

/** The systemd-run prefix that runs a command in the build sandbox. */
export function sandboxCommand(job: Pick<BuildJob, 'app' | 'buildId' | 'buildDir' | 'crateDir' | 'manifest'>, cacheDir: string, limits: BuildLimits, env: Record<string, string>): string[] {
  const properties = [
    // Crates come from the Debian registry on disk or, when the app asks for network, crates.io.
    `PrivateNetwork=${job.manifest.container.network ? 'no' : 'yes'}`,
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    `ReadWritePaths=${job.buildDir} ${cacheDir}`,
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    `MemoryMax=${limits.memoryMax}`,
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
    `--working-directory=${job.crateDir}`,
    ...properties.map((property) => `--property=${property}`),
    ...Object.entries(env).map(([key, value]) => `--setenv=${key}=${value}`),
    '--',
  ];
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
export async function sandboxedBuild(job: BuildJob, output: BuildOutput, { cacheDir, limits, signal }: SandboxedBuildOptions): Promise<string> {
  const target = await hostTriple();
  const targetDir = join(cacheDir, 'target');
  const cargoHome = join(cacheDir, 'cargo-home');
  await mkdir(targetDir, { recursive: true });
  await mkdir(cargoHome, { recursive: true });
  const env: Record<string, string> = {
    ...CARGO_OUTPUT_ENV,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: cargoHome,
    CARGO_HOME: cargoHome,
    CARGO_TARGET_DIR: targetDir,
    // With an explicit --target, RUSTFLAGS apply to the target only: proc-macros and build
    // scripts still build for the host, dynamically, as they must.
    RUSTFLAGS: '-C target-feature=+crt-static',
  };
  const unit = buildUnitName(job.app, job.buildId);
  const onAbort = (): void => void execa('systemctl', ['stop', `${unit}.service`], { reject: false });
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    output.line(`rustless: building in the sandbox unit ${unit}.service (${job.manifest.container.network ? 'with' : 'no'} network, MemoryMax=${limits.memoryMax}, CPUQuota=${limits.cpuQuota})`);
    await runCargo(['build', '--release', '--target', target, ...configFlags(job.cargoConfig)], {
      cwd: job.crateDir,
      output,
      ...(signal ? { signal } : {}),
      command: [...sandboxCommand(job, cacheDir, limits, env), cargoCommand()],
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const binaryPath = join(job.buildDir, 'runner');
  await copyFile(join(targetDir, target, 'release', job.binaryName), binaryPath);
  return binaryPath;
}
