/**
 * What `rustless doctor` checks: the tools a backend needs at run time, each with how to get
 * it. Checks run the real tools (`cargo --version`, `podman --version`), not a lookup table.
 */
import { execa } from 'execa';
import { access, readdir } from 'node:fs/promises';
import { cargoCommand } from '../builder/cargo.js';
import { DEBIAN_REGISTRY, detectCrateSource } from '../builder/crate-source.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

/** Crates the runner needs from the Debian registry when crates.io is out of reach. */
const RUNNER_CRATES = ['serde', 'serde_derive', 'serde_json', 'tiny_http', 'listenfd', 'sd-notify', 'signal-hook', 'libc'];
const RUNNER_PACKAGES = 'librust-serde-dev librust-serde-derive-dev librust-serde-json-dev librust-tiny-http-dev librust-listenfd-dev librust-sd-notify-dev librust-signal-hook-dev librust-libc-dev';

export async function checkLocal(): Promise<CheckResult[]> {
  return [checkNode(), await checkCargo(), await checkCrateSource()];
}

export async function checkSystemd(): Promise<CheckResult[]> {
  return [await checkSystemdPid1(), await checkPodman(), await checkQuadlet(), await checkTool('systemd-run', ['--version'], 'apt install systemd')];
}

function checkNode(): CheckResult {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = major > 20 || (major === 20 && minor >= 18);
  return { name: 'node', ok, detail: `node ${process.versions.node}`, fix: 'install Node.js 20.18 or newer (apt install nodejs on Debian trixie)' };
}

async function checkCargo(): Promise<CheckResult> {
  const result = await execa(cargoCommand(), ['--version'], { reject: false });
  if (result.exitCode === 0) return { name: 'cargo', ok: true, detail: result.stdout.trim() };
  return { name: 'cargo', ok: false, detail: 'cargo was not found on PATH, in $CARGO or in ~/.cargo/bin', fix: 'apt install cargo (or install rustup)' };
}

async function checkCrateSource(): Promise<CheckResult> {
  const source = await detectCrateSource();
  if (source.kind === 'crates-io') return { name: 'crates', ok: true, detail: 'crates.io is reachable' };
  const present = new Set((await readdir(DEBIAN_REGISTRY).catch(() => [])).map((dir) => dir.replace(/-[0-9][^-]*$/, '')));
  const missing = RUNNER_CRATES.filter((crate) => !present.has(crate));
  if (missing.length === 0) return { name: 'crates', ok: true, detail: `offline: the Debian crate registry ${DEBIAN_REGISTRY} has what the runner needs` };
  return {
    name: 'crates',
    ok: false,
    detail: `crates.io is not reachable and ${DEBIAN_REGISTRY} lacks ${missing.join(', ')}`,
    fix: `apt install ${RUNNER_PACKAGES}`,
  };
}

async function checkSystemdPid1(): Promise<CheckResult> {
  const booted = await access('/run/systemd/system').then(() => true, () => false);
  return { name: 'systemd', ok: booted, detail: booted ? 'systemd is the init system' : 'this system was not booted with systemd', fix: 'use the local backend (rustless gateway --backend local) on this machine' };
}

async function checkPodman(): Promise<CheckResult> {
  const result = await execa('podman', ['--version'], { reject: false });
  if (result.exitCode !== 0) return { name: 'podman', ok: false, detail: 'podman was not found', fix: 'apt install podman (4.4 or newer: Debian trixie or later)' };
  const version = /(\d+)\.(\d+)/.exec(result.stdout);
  const ok = version !== null && (Number(version[1]) > 4 || (Number(version[1]) === 4 && Number(version[2]) >= 4));
  return { name: 'podman', ok, detail: result.stdout.trim(), fix: 'Quadlet needs podman 4.4 or newer: upgrade to Debian trixie (Raspberry Pi OS trixie)' };
}

async function checkQuadlet(): Promise<CheckResult> {
  const paths = ['/usr/lib/systemd/system-generators/podman-system-generator', '/usr/libexec/podman/quadlet'];
  for (const path of paths) {
    if (await access(path).then(() => true, () => false)) return { name: 'quadlet', ok: true, detail: path };
  }
  return { name: 'quadlet', ok: false, detail: `none of ${paths.join(', ')} exists`, fix: 'apt install podman (4.4 or newer ships Quadlet)' };
}

async function checkTool(name: string, args: string[], fix: string): Promise<CheckResult> {
  const result = await execa(name, args, { reject: false });
  return result.exitCode === 0 ? { name, ok: true, detail: result.stdout.split('\n')[0]!.trim() } : { name, ok: false, detail: `${name} was not found`, fix };
}
