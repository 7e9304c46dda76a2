/**
 * Where a build's crates come from: crates.io when it is reachable, else the Debian crate
 * registry (`/usr/share/cargo/registry`, filled by `librust-*-dev` packages) so a Pi with no
 * internet still builds. `RUSTLESS_CRATES=crates-io|debian|auto` overrides the guess.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { RustlessError } from '../errors.js';

export const DEBIAN_REGISTRY = '/usr/share/cargo/registry';
export const CRATES_IO_INDEX = { host: 'index.crates.io', port: 443 };
const PROBE_TIMEOUT_MS = 1500;

/** `none`: neither source was reached; a build would fail, so the builder refuses it up front. */
export type CrateSourceKind = 'crates-io' | 'debian' | 'none';

export interface CrateSource {
  kind: CrateSourceKind;
  /** Values for `cargo --config` (each goes after its own `--config`); empty for crates.io. */
  cargoConfig: string[];
  /** One line for build logs and `rustless doctor`: what was chosen and why. */
  reason: string;
  /** What was looked at, one line each, in order (`index.crates.io:443: ENOTFOUND`, ...). */
  tried: string[];
}

/** Whether crates.io answered, and what happened (`connected`, `getaddrinfo ENOTFOUND ...`). */
export interface ProbeResult {
  reachable: boolean;
  detail: string;
}

export interface DetectOptions {
  env?: NodeJS.ProcessEnv;
  /** Whether crates.io answers; the default opens a TCP connection to its index, once per process. */
  probe?: () => Promise<ProbeResult>;
  debianRegistry?: string;
}

/** Decides where crates come from, following `RUSTLESS_CRATES` (default `auto`). */
export async function detectCrateSource({ env = process.env, probe = probeCratesIo, debianRegistry = DEBIAN_REGISTRY }: DetectOptions = {}): Promise<CrateSource> {
  const mode = env.RUSTLESS_CRATES?.trim() || 'auto';
  switch (mode) {
    case 'crates-io':
      return cratesIo('RUSTLESS_CRATES=crates-io', ['RUSTLESS_CRATES=crates-io: crates.io was chosen, not probed']);
    case 'debian':
      return debian(debianRegistry, 'RUSTLESS_CRATES=debian', ['RUSTLESS_CRATES=debian: the Debian registry was chosen, crates.io not probed']);
    case 'auto':
      break;
    default:
      throw new RustlessError('RUSTLESS_INTERNAL', `RUSTLESS_CRATES must be crates-io, debian or auto, got ${JSON.stringify(mode)}`);
  }
  const index = `${CRATES_IO_INDEX.host}:${CRATES_IO_INDEX.port}`;
  const probed = await probe();
  const tried = [`${index}: ${probed.detail}`];
  if (probed.reachable) return cratesIo(`${index} answered`, tried);
  const registry = describeRegistry(debianRegistry);
  tried.push(`${debianRegistry}: ${registry ?? 'present'}`);
  if (registry === undefined) return debian(debianRegistry, `${index} did not answer: ${probed.detail}`, tried);
  return {
    kind: 'none',
    cargoConfig: [],
    reason: `no crate source: ${tried.join('; ')}`,
    tried,
  };
}

/** Undefined when `registry` is a directory holding crates; otherwise why it cannot serve. */
function describeRegistry(registry: string): string | undefined {
  if (!existsSync(registry)) return 'does not exist';
  try {
    if (!statSync(registry).isDirectory()) return 'is not a directory';
    return readdirSync(registry).length === 0 ? 'is empty (no librust-*-dev package is installed)' : undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The `--config` values that make cargo read crates offline from a directory registry. */
export function debianCargoConfig(registry = DEBIAN_REGISTRY): string[] {
  return ['source.crates-io.replace-with="debian-registry"', `source.debian-registry.directory=${JSON.stringify(registry)}`, 'net.offline=true'];
}

/** The same settings as a `.cargo/config.toml` text, for crates made on an offline machine. */
export function renderCargoConfigToml(source: CrateSource, registry = DEBIAN_REGISTRY): string | undefined {
  if (source.kind !== 'debian') return undefined;
  return [
    `# crates.io is not reachable from this machine: crates come from Debian's registry`,
    `# (librust-*-dev packages). Delete this file once crates.io is reachable.`,
    '[source.crates-io]',
    'replace-with = "debian-registry"',
    '',
    '[source.debian-registry]',
    `directory = ${JSON.stringify(registry)}`,
    '',
    '[net]',
    'offline = true',
    '',
  ].join('\n');
}

/** `.cargo/config.toml` text for this machine, or undefined when crates.io is the source. */
export async function cargoConfigToml(source?: CrateSource): Promise<string | undefined> {
  return renderCargoConfigToml(source ?? (await detectCrateSource()));
}

let probed: Promise<ProbeResult> | undefined;

/** Whether `index.crates.io:443` accepts a TCP connection within 1.5 s; asked once per process. */
export function probeCratesIo(): Promise<ProbeResult> {
  probed ??= canConnect(CRATES_IO_INDEX.host, CRATES_IO_INDEX.port, PROBE_TIMEOUT_MS);
  return probed;
}

/** Forgets the probe's answer (tests, or a long-lived process whose network changed). */
export function resetCrateSourceProbe(): void {
  probed = undefined;
}

export function canConnect(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (reachable: boolean, detail: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reachable, detail });
    };
    const timer = setTimeout(() => finish(false, `no connection within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => finish(true, 'connected'));
    socket.once('error', (error) => finish(false, error.message));
  });
}

function cratesIo(reason: string, tried: string[]): CrateSource {
  return { kind: 'crates-io', cargoConfig: [], reason: `crates from crates.io (${reason})`, tried };
}

function debian(registry: string, reason: string, tried: string[]): CrateSource {
  return { kind: 'debian', cargoConfig: debianCargoConfig(registry), reason: `crates from the Debian registry ${registry}, offline (${reason})`, tried };
}
