/**
 * The whole machine's memory pressure, from the kernel's pressure stall information (PSI) as
 * the root of the cgroup2 hierarchy reports it: `memory.pressure` at `/sys/fs/cgroup` on a
 * unified host (the Pi), at `/sys/fs/cgroup/unified` on a hybrid one. (`/proc/pressure/memory`
 * says the same, but the gateway's `ProcSubset=pid` hides it.) `some avg10` is the share of the
 * last 10 s, in percent, in which at least one task waited for memory: reclaiming it, or reading
 * back pages it needed and lost.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `some avg10` now, in percent; undefined when the kernel did not say. */
export type MemoryPressureReader = () => Promise<number | undefined>;

/** A reader of this host's memory pressure, or undefined when its kernel reports none. */
export function memoryPressureReader(cgroupRoot = '/sys/fs/cgroup'): MemoryPressureReader | undefined {
  const file = [join(cgroupRoot, 'memory.pressure'), join(cgroupRoot, 'unified', 'memory.pressure')].find((path) => existsSync(path));
  if (file === undefined) return undefined;
  return async () => parseSomeAvg10(await readFile(file, 'utf8').catch(() => ''));
}

/** `some avg10=12.35 avg60=...` -> 12.35. */
export function parseSomeAvg10(text: string): number | undefined {
  const match = /^some avg10=(\d+(?:\.\d+)?)\b/m.exec(text);
  return match ? Number(match[1]) : undefined;
}
