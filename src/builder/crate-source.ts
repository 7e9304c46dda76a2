/**
 * Where a build's crates come from: crates.io when it is reachable, else the Debian crate
 * registry (`/usr/share/cargo/registry`, filled by `librust-*-dev` packages) so a Pi with no
 * internet still builds. `RUSTLESS_CRATES=crates-io|debian|auto` overrides the guess.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { RustlessError } from '../errors.js';

export const DEBIAN_REGISTRY = '/usr/share/cargo/registry';
export const CRATES_IO_INDEX = { host: 'index.crates.io', port: 443 };
const PROBE_TIMEOUT_MS = 1500;

export type CrateSourceKind = 'crates-io' | 'debian';

export interface CrateSource {
  kind: CrateSourceKind;
  /** Values for `cargo --config` (each goes after its own `--config`); empty for crates.io. */
  cargoConfig: string[];
  /** One line for build logs and `rustless doctor`: what was chosen and why. */
  reason: string;
}

export interface DetectOptions {
  env?: NodeJS.ProcessEnv;
  /** Whether crates.io answers; the default opens a TCP connection to its index, once per process. */
  probe?: () => Promise<boolean>;
  debianRegistry?: string;
}

/** Decides where crates come from, following `RUSTLESS_CRATES` (default `auto`). */
export async function detectCrateSource({ env = process.env, probe = probeCratesIo, debianRegistry = DEBIAN_REGISTRY }: DetectOptions = {}): Promise<CrateSource> {
  const mode = env.RUSTLESS_CRATES?.trim() || 'auto';
  switch (mode) {
    case 'crates-io':
      return cratesIo('RUSTLESS_CRATES=crates-io');
    case 'debian':
      return debian(debianRegistry, 'RUSTLESS_CRATES=debian');
    case 'auto':
      break;
    default:
      throw new RustlessError('RUSTLESS_INTERNAL', `RUSTLESS_CRATES must be crates-io, debian or auto, got ${JSON.stringify(mode)}`);
  }
  if (await probe()) return cratesIo(`${CRATES_IO_INDEX.host} is reachable`);
  if (existsSync(debianRegistry)) return debian(debianRegistry, `${CRATES_IO_INDEX.host} is not reachable`);
  // Neither works: let cargo try the network and fail with its own, well-known message.
  return cratesIo(`${CRATES_IO_INDEX.host} is not reachable and ${debianRegistry} does not exist`);
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

let probed: Promise<boolean> | undefined;

/** True when `index.crates.io:443` accepts a TCP connection within 1.5 s; asked once per process. */
export function probeCratesIo(): Promise<boolean> {
  probed ??= canConnect(CRATES_IO_INDEX.host, CRATES_IO_INDEX.port, PROBE_TIMEOUT_MS);
  return probed;
}

/** Forgets the probe's answer (tests, or a long-lived process whose network changed). */
export function resetCrateSourceProbe(): void {
  probed = undefined;
}

export function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

function cratesIo(reason: string): CrateSource {
  return { kind: 'crates-io', cargoConfig: [], reason: `crates from crates.io (${reason})` };
}

function debian(registry: string, reason: string): CrateSource {
  return { kind: 'debian', cargoConfig: debianCargoConfig(registry), reason: `crates from the Debian registry ${registry}, offline (${reason})` };
}
