/**
 * What `rustless doctor` checks: the tools a backend needs at run time, each with how to get
 * it. Checks run the real tools (`cargo --version`, `podman --version`), not a lookup table.
 */
import { execa } from 'execa';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MEMORY_FIX, readMemoryController, type MemoryControllerPaths } from '../backends/systemd/memory-controller.js';
import { describeToolchain, resolveToolchain } from '../cargo/toolchain.js';
import { unprivilegedUser } from '../backends/local/run-as.js';
import { DEBIAN_REGISTRY, detectCrateSource, probeCratesIo } from '../cargo/crate-source.js';
import { runnerCrates } from '../builder/runner-crates.js';
import { BINDING_FIX, notifyVia } from '../gateway/notify.js';
import { PACKAGE_ROOT } from '../version.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

export async function checkLocal(backend: 'local' | 'systemd' = 'local'): Promise<CheckResult[]> {
  return [checkNode(), await checkToolchain(backend), await checkCrateSource()];
}

export async function checkSystemd(): Promise<CheckResult[]> {
  return [await checkSystemdPid1(), await checkPodman(), await checkQuadlet(), await checkSystemdVersion(), checkNotify(), checkMemory(), ...(await checkPublicHttps())];
}

/**
 * The apps' `container.memory` and the builds' MemoryMax= need the kernel's memory controller,
 * which stock Raspberry Pi OS boots without; systemd then accepts MemoryMax= and limits nothing.
 */
export function checkMemory(paths?: MemoryControllerPaths): CheckResult {
  const { enforced, detail } = readMemoryController(paths);
  return { name: 'memory', ok: enforced, detail: enforced ? detail : `${detail}: MemoryMax= is accepted and limits nothing`, ...(enforced ? {} : { fix: MEMORY_FIX }) };
}

/** Written by `install.mjs --public` (scripts/lib/public-https.mjs): Caddy faces the network. */
export const PUBLIC_DROP_IN = '/etc/systemd/system/rustless.service.d/public.conf';

/** Installed with --public: without Caddy running, the public name answers nothing. Nothing to check otherwise. */
export async function checkPublicHttps(dropIn = PUBLIC_DROP_IN): Promise<CheckResult[]> {
  if (!(await access(dropIn).then(() => true, () => false))) return [];
  const version = await execa('caddy', ['version'], { reject: false });
  if (version.exitCode !== 0) return [{ name: 'caddy', ok: false, detail: `installed with --public (${dropIn}), but caddy was not found`, fix: 'apt install caddy' }];
  const state = (await execa('systemctl', ['is-active', 'caddy.service'], { reject: false })).stdout.trim();
  const ok = state === 'active';
  return [{ name: 'caddy', ok, detail: `${version.stdout.trim().split(' ')[0]}, caddy.service ${state}`, ...(ok ? {} : { fix: 'systemctl enable --now caddy (journalctl -u caddy says why it stopped)' }) }];
}

/** rustless.service is Type=notify: a gateway that cannot send READY=1 is restarted forever. */
export function checkNotify(env: NodeJS.ProcessEnv = process.env): CheckResult {
  const { via, detail } = notifyVia(env);
  if (via !== 'none') return { name: 'notify', ok: true, detail: `READY=1 through ${detail}` };
  return { name: 'notify', ok: false, detail, fix: `${BINDING_FIX}; or apt install systemd (systemd-notify)` };
}

function checkNode(): CheckResult {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = major > 20 || (major === 20 && minor >= 18);
  return { name: 'node', ok, detail: `node ${process.versions.node}`, fix: 'install Node.js 20.18 or newer (apt install nodejs on Debian trixie)' };
}

/**
 * The cargo and rustc builds will run, found and run the way builds find and run them: on the
 * local backend as root, as its unprivileged build user (rustup's under /root is out of its
 * reach); on the systemd backend, the gateway's own, which each build's sandbox binds read-only.
 */
export async function checkToolchain(backend: 'local' | 'systemd', env: NodeJS.ProcessEnv = process.env): Promise<CheckResult> {
  const runAs = backend === 'local' ? await unprivilegedUser().catch(() => undefined) : undefined;
  const fix = 'apt install cargo, or point RUSTLESS_CARGO (the gateway\'s --cargo) at a toolchain the build user can run, outside /root and /home';
  try {
    const toolchain = await resolveToolchain({ env, runAs });
    const who = runAs ? `as the build user ${runAs.user}` : backend === 'systemd' ? 'bound read-only into each build\'s sandbox' : 'as this user';
    let detail = `builds use ${describeToolchain(toolchain)} (${who})`;
    if (runAs && !env.RUSTLESS_CARGO) {
      // Root's own cargo (rustup's, say) may be newer than the one builds get: say so.
      const own = await resolveToolchain({ env }).catch(() => undefined);
      if (own && own.cargo !== toolchain.cargo) detail += `; root's ${own.cargoVersion} (${own.cargo}) is out of its reach`;
    }
    return { name: 'cargo', ok: true, detail };
  } catch (error) {
    return { name: 'cargo', ok: false, detail: (error as Error).message, fix };
  }
}

/**
 * Where builds get their crates, reporting only a source that was reached: crates.io when its
 * index answered, else the Debian registry when it holds every crate runner/'s manifests name.
 */
export async function checkCrateSource({ env = process.env, runnerDir = join(PACKAGE_ROOT, 'runner') }: { env?: NodeJS.ProcessEnv; runnerDir?: string } = {}): Promise<CheckResult> {
  const source = await detectCrateSource({ env });
  const crates = await runnerCrates(runnerDir);
  const fix = `apt install ${crates.map((c) => c.debianPackage).join(' ')}`;
  if (source.kind === 'crates-io') {
    // RUSTLESS_CRATES=crates-io skips the probe in builds; the doctor still says whether it answers.
    const probe = await probeCratesIo();
    if (probe.reachable) return { name: 'crates', ok: true, detail: `crates.io (${source.tried.join('; ')}; index.crates.io:443: ${probe.detail})` };
    return { name: 'crates', ok: false, detail: `RUSTLESS_CRATES=crates-io, but index.crates.io:443 did not answer (${probe.detail})`, fix: `unset RUSTLESS_CRATES and ${fix}` };
  }
  if (source.kind === 'none') return { name: 'crates', ok: false, detail: `no crate source reached; tried ${source.tried.join('; ')}`, fix };
  const present = new Set((await readdir(DEBIAN_REGISTRY).catch(() => [])).map((dir) => dir.replace(/-[0-9][^-]*$/, '')));
  const missing = crates.filter((c) => !present.has(c.crate));
  const tried = source.tried.join('; ');
  if (missing.length === 0) return { name: 'crates', ok: true, detail: `offline: the Debian crate registry ${DEBIAN_REGISTRY} has the ${crates.length} crates runner/ names (tried ${tried})` };
  return {
    name: 'crates',
    ok: false,
    detail: `offline, and ${DEBIAN_REGISTRY} lacks ${missing.map((c) => c.crate).join(', ')} (tried ${tried})`,
    fix: `apt install ${missing.map((c) => c.debianPackage).join(' ')}`,
  };
}

async function checkSystemdPid1(): Promise<CheckResult> {
  const booted = await access('/run/systemd/system').then(() => true, () => false);
  return { name: 'systemd', ok: booted, detail: booted ? 'systemd is the init system' : 'this system was not booted with systemd', fix: 'use the local backend (rustless gateway --backend local) on this machine' };
}

/**
 * What the systemd backend needs, and what that means on a Pi: bookworm has Podman 4.3 (no
 * Quadlet) and systemd 252; trixie has Podman 5.4 and systemd 257.
 */
export const NEEDS_TRIXIE = 'the systemd backend needs Podman 4.4+ with Quadlet and systemd 256+, which means Debian trixie or Raspberry Pi OS trixie; on this machine use the local backend (rustless gateway --backend local, or npm start)';

async function checkPodman(): Promise<CheckResult> {
  const result = await execa('podman', ['--version'], { reject: false });
  if (result.exitCode !== 0) return { name: 'podman', ok: false, detail: 'podman was not found', fix: `apt install podman; ${NEEDS_TRIXIE}` };
  return podmanVersionCheck(result.stdout.trim());
}

/** `podman --version` (`podman version 4.3.1`) against 4.4, the first with Quadlet. */
export function podmanVersionCheck(line: string): CheckResult {
  const version = /(\d+)\.(\d+)/.exec(line);
  const ok = version !== null && (Number(version[1]) > 4 || (Number(version[1]) === 4 && Number(version[2]) >= 4));
  return { name: 'podman', ok, detail: line, ...(ok ? {} : { fix: NEEDS_TRIXIE }) };
}

async function checkQuadlet(): Promise<CheckResult> {
  return quadletCheck(await Promise.all(QUADLET_PATHS.map((path) => access(path).then(() => path, () => undefined))));
}

const QUADLET_PATHS = ['/usr/lib/systemd/system-generators/podman-system-generator', '/usr/libexec/podman/quadlet'];

/** Quadlet's generator or binary, whichever of QUADLET_PATHS exists (undefined where not). */
export function quadletCheck(found: Array<string | undefined>): CheckResult {
  const path = found.find((p) => p !== undefined);
  if (path) return { name: 'quadlet', ok: true, detail: path };
  return { name: 'quadlet', ok: false, detail: `none of ${QUADLET_PATHS.join(', ')} exists`, fix: NEEDS_TRIXIE };
}

/**
 * The units rust-less writes use settings of systemd 256 and later (`PrivateTmp=disconnected`
 * for the apps, `RestartSteps=` for the gateway), which an older systemd ignores with a warning,
 * running them less confined than docs/systemd.md says. Debian trixie has 257.
 */
export const MIN_SYSTEMD = 256;

async function checkSystemdVersion(): Promise<CheckResult> {
  const result = await execa('systemd-run', ['--version'], { reject: false });
  if (result.exitCode !== 0) return { name: 'systemd-run', ok: false, detail: 'systemd-run was not found', fix: 'apt install systemd' };
  return systemdVersionCheck(result.stdout.split('\n')[0]!.trim());
}

/** `systemd-run --version`'s first line (`systemd 257 (257.13-1~deb13u1)`) against MIN_SYSTEMD. */
export function systemdVersionCheck(line: string): CheckResult {
  const major = Number(/^systemd (\d+)/.exec(line)?.[1] ?? 0);
  const ok = major >= MIN_SYSTEMD;
  return { name: 'systemd-run', ok, detail: line, ...(ok ? {} : { fix: NEEDS_TRIXIE }) };
}
