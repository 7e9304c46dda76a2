/**
 * Whether this kernel can enforce a memory limit at all. Stock Raspberry Pi OS boots with
 * `cgroup_disable=memory` (from its device tree): the memory controller is then missing, systemd
 * accepts `MemoryMax=` without a word, and nothing is limited. Where to look:
 * - the unified hierarchy (the Pi, Debian trixie): `memory` in `<root>/cgroup.controllers`
 *   (6.12 kernels no longer list it in /proc/cgroups);
 * - a hybrid or v1 host (this project's CI and namespace test host): the v1 memory controller
 *   mounted at `<root>/memory` (/proc/cgroups, when readable, says why it is not).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryController {
  /** True when a `MemoryMax=` of a unit is enforced by the kernel. */
  enforced: boolean;
  /** What was read, in one line. */
  detail: string;
}

/** The fix on Raspberry Pi OS: the kernel's command line is one line in this file. */
export const CMDLINE_FILE = '/boot/firmware/cmdline.txt';
export const MEMORY_FIX = `append cgroup_enable=memory to the one line of ${CMDLINE_FILE} and reboot (sudo rustless install --enable-memory-cgroup makes that edit)`;

export interface MemoryControllerPaths {
  /** The cgroup mount; RUSTLESS_CGROUP_ROOT overrides it (for tests). */
  cgroupRoot?: string;
  procCgroups?: string;
}

export function readMemoryController({ cgroupRoot = process.env.RUSTLESS_CGROUP_ROOT ?? '/sys/fs/cgroup', procCgroups = '/proc/cgroups' }: MemoryControllerPaths = {}): MemoryController {
  const controllersFile = join(cgroupRoot, 'cgroup.controllers');
  const controllers = readText(controllersFile);
  if (controllers !== undefined) {
    const list = controllers.trim().split(/\s+/).filter(Boolean);
    if (list.includes('memory')) return { enforced: true, detail: `the memory controller is on (${controllersFile}: ${list.join(' ')})` };
    return { enforced: false, detail: `the memory controller is off: ${controllersFile} lists ${list.length ? list.join(' ') : 'nothing'} (a kernel booted with cgroup_disable=memory, as Raspberry Pi OS is)` };
  }
  // Hybrid or v1: a disabled controller cannot be mounted, so the mount is the answer. (The
  // gateway's own sandbox, ProcSubset=pid, hides /proc/cgroups: it only explains a missing mount.)
  const v1 = join(cgroupRoot, 'memory');
  if (existsSync(join(v1, 'memory.limit_in_bytes'))) return { enforced: true, detail: `the cgroup v1 memory controller is on (${v1})` };
  const proc = readText(procCgroups);
  const line = proc?.split('\n').find((l) => l.split(/\s+/)[0] === 'memory');
  const why =
    proc === undefined ? `${procCgroups} is not readable here` : line === undefined ? `${procCgroups} does not list it` : line.trim().split(/\s+/)[3] === '1' ? `${procCgroups} shows it enabled, but it is not mounted` : `${procCgroups} shows it disabled (cgroup_disable=memory)`;
  return { enforced: false, detail: `the memory controller is off: no ${controllersFile}, and no v1 memory controller at ${v1} (${why})` };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
