/**
 * The toolchain builds run: which cargo and rustc, and their versions. One answer for the
 * doctor, the build log's first line and the shared dependencies' key, so what the doctor
 * reports is what builds use. `RUSTLESS_CARGO` (or the gateway's `--cargo`) names a cargo;
 * otherwise the one on PATH, else `$CARGO`, else rustup's `~/.cargo/bin/cargo`. A rustup proxy
 * is resolved to its toolchain's own binaries: a build user cannot run rustup from root's home.
 */
import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RustlessError } from '../errors.js';
import { cargoCommand } from './run-cargo.js';

export interface Toolchain {
  /** The cargo builds run, a real binary (not a rustup proxy). */
  cargo: string;
  /** The rustc that cargo runs (as `RUSTC`). */
  rustc: string;
  /** `cargo 1.85.1 (d73d2caf9 2024-12-31)` */
  cargoVersion: string;
  /** `rustc 1.85.1 (4eb161250 2025-03-15)` */
  rustcVersion: string;
  /** `1.85.1`: what a crate's `rust-version` is compared with. */
  release: string;
  /** The target triple rustc builds for by default (`x86_64-unknown-linux-gnu`). */
  host: string;
  /** rustc's sysroot: the directory a build sandbox must see for rustc to find its std. */
  sysroot: string;
}

/** Who runs the version checks: the build user (local backend as root), or this process. */
export interface ToolchainRunAs {
  uid: number;
  gid: number;
  user: string;
}

export interface ResolveToolchainOptions {
  env?: NodeJS.ProcessEnv;
  /** Ask as this user: the toolchain must be one it can run. */
  runAs?: ToolchainRunAs | undefined;
}

/**
 * Finds the toolchain and asks it its versions; throws RUSTLESS_BUILD_FAILED naming what failed.
 * Without RUSTLESS_CARGO, a cargo the build user cannot run (rustup's under /root) gives way to
 * Debian's /usr/bin/cargo or /usr/local/bin/cargo; with it, that cargo or an error.
 */
export async function resolveToolchain({ env = process.env, runAs }: ResolveToolchainOptions = {}): Promise<Toolchain> {
  const chosen = env.RUSTLESS_CARGO?.trim();
  const candidates = chosen ? [chosen] : [...new Set([cargoCommand(), '/usr/bin/cargo', '/usr/local/bin/cargo'])];
  const tried: string[] = [];
  for (const candidate of candidates) {
    try {
      return await toolchainOf(candidate, runAs);
    } catch (error) {
      tried.push((error as Error).message);
    }
  }
  const hint = chosen
    ? `RUSTLESS_CARGO=${chosen} must name a cargo that ${runAs ? `the build user ${runAs.user}` : 'the gateway'} can run`
    : "install Debian's (apt install cargo), or point RUSTLESS_CARGO at a toolchain outside /root and /home";
  throw new RustlessError('RUSTLESS_BUILD_FAILED', `no cargo to build with: ${tried.join('; ')}; ${hint}`);
}

async function toolchainOf(candidate: string, runAs: ToolchainRunAs | undefined): Promise<Toolchain> {
  let cargo = candidate;
  let rustc = join(dirname(cargo), 'rustc');
  if ((await realpath(cargo).catch(() => cargo)).endsWith('/rustup')) {
    // A rustup proxy: the toolchain it stands for, asked as this process (rustup lives in its home).
    const sysroot = await ask(join(dirname(cargo), 'rustc'), ['--print', 'sysroot']);
    if (sysroot.code !== 0) throw new Error(`${cargo} is a rustup proxy, and \`rustc --print sysroot\` through it failed: ${sysroot.text}`);
    cargo = join(sysroot.text, 'bin', 'cargo');
    rustc = join(sysroot.text, 'bin', 'rustc');
  }
  const who = runAs ? ` as the build user ${runAs.user}` : '';
  const cargoV = await ask(cargo, ['-V'], runAs);
  if (cargoV.code !== 0) throw new Error(`cannot run ${cargo}${who} (${cargoV.text})`);
  // rustc beside cargo is the usual layout (/usr/bin, a rustup toolchain's bin/); else PATH's.
  if ((await ask(rustc, ['-V'], runAs)).code !== 0) rustc = 'rustc';
  const rustcV = await ask(rustc, ['-vV'], runAs);
  if (rustcV.code !== 0) throw new Error(`cannot run ${rustc}${who} (${rustcV.text})`);
  const sysroot = await ask(rustc, ['--print', 'sysroot'], runAs);
  return {
    cargo,
    rustc,
    cargoVersion: cargoV.text.split('\n')[0]!,
    rustcVersion: rustcV.text.split('\n')[0]!,
    release: /^release: (\S+)$/m.exec(rustcV.text)?.[1] ?? '',
    host: /^host: (\S+)$/m.exec(rustcV.text)?.[1] ?? '',
    sysroot: sysroot.code === 0 ? sysroot.text : dirname(dirname(rustc)),
  };
}

/** `cargo 1.85.1 (...) and rustc 1.85.1 (...) at /usr/bin`: for the build log and the doctor. */
export function describeToolchain(toolchain: Toolchain): string {
  const where = dirname(toolchain.cargo) === dirname(toolchain.rustc) ? `in ${dirname(toolchain.cargo)}` : `(${toolchain.cargo}, ${toolchain.rustc})`;
  return `${toolchain.cargoVersion} and ${toolchain.rustcVersion} ${where}`;
}

/** The environment that makes cargo run this toolchain's rustc, whatever PATH holds. */
export function toolchainEnv(toolchain: Toolchain): Record<string, string> {
  return { RUSTC: toolchain.rustc };
}

function ask(file: string, args: string[], runAs?: ToolchainRunAs): Promise<{ code: number; text: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 30_000, ...(runAs ? { uid: runAs.uid, gid: runAs.gid, env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent' }, cwd: '/' } : {}) }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
      resolve({ code, text: (code === 0 ? stdout : stderr || error?.message || '').trim() });
    });
  });
}
