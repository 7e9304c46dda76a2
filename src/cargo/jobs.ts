/**
 * How many compilers a build runs at once (`cargo -j`). Each rustc of an optimised build takes
 * a few hundred MiB (syn, serde_derive and the runner's final link the most), so on a
 * 512 MiB-1 GiB board two at once is what gets one OOM-killed: the jobs follow the memory the
 * build can have, the smaller of the host's MemAvailable and the build's own limit.
 */
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';

/** Memory one rustc job is given room for (the largest measured here was about 450 MiB). */
export const BYTES_PER_JOB = 640 * 2 ** 20;

export interface JobsInput {
  /** /proc/meminfo MemAvailable, bytes; undefined when unknown. */
  memAvailable: number | undefined;
  /** The build's own limit in bytes (systemd MemoryMax=); undefined when unlimited. */
  memoryMax: number | undefined;
  cpus: number;
}

export interface Jobs {
  jobs: number;
  /** One line for the build log: the figures the choice came from. */
  reason: string;
}

/**
 * The rule: one job per BYTES_PER_JOB of the smaller budget, at least one, at most one per CPU.
 * (The systemd backend's build script applies the same rule in sh, inside the build unit.)
 */
export function cargoJobs(input: JobsInput): Jobs {
  const { memAvailable, memoryMax, cpus } = input;
  const budgets = [memAvailable, memoryMax].filter((bytes): bytes is number => bytes !== undefined);
  const budget = budgets.length > 0 ? Math.min(...budgets) : undefined;
  const byMemory = budget === undefined ? cpus : Math.floor(budget / BYTES_PER_JOB);
  const jobs = Math.max(1, Math.min(cpus, byMemory));
  return { jobs, reason: describeJobs(jobs, input) };
}

/** `cargo -j 2 (2 CPUs, MemAvailable 1.2 GiB, the build's limit 2.0 GiB; 640 MiB per job)`, for the build log. */
export function describeJobs(jobs: number, { memAvailable, memoryMax, cpus }: JobsInput): string {
  const parts = [`${cpus} CPU${cpus === 1 ? '' : 's'}`, `MemAvailable ${formatBytes(memAvailable)}`, `the build's limit ${memoryMax === undefined ? 'none' : formatBytes(memoryMax)}`];
  return `cargo -j ${jobs} (${parts.join(', ')}; ${formatBytes(BYTES_PER_JOB)} per job)`;
}

/** MemAvailable from /proc/meminfo, in bytes; undefined where there is none. */
export async function memAvailable(meminfo = '/proc/meminfo'): Promise<number | undefined> {
  const text = await readFile(meminfo, 'utf8').catch(() => '');
  const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(text)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/** The jobs for a build on this host under `memoryMax` bytes (undefined: no limit). */
export async function jobsForThisHost(memoryMax: number | undefined): Promise<Jobs> {
  return cargoJobs({ memAvailable: await memAvailable(), memoryMax, cpus: availableParallelism() });
}

/**
 * A systemd memory size (`2G`, `512M`, `1073741824`, `infinity`) in bytes; undefined for
 * `infinity`. Percentages are of `totalBytes`. Throws on anything else, naming what it got.
 */
export function parseMemorySize(text: string, totalBytes?: number): number | undefined {
  const value = text.trim();
  if (value === 'infinity') return undefined;
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (percent && totalBytes !== undefined) return Math.floor((Number(percent[1]) / 100) * totalBytes);
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)$/i.exec(value);
  if (!match) throw new Error(`expected a memory size such as 2G, 512M or infinity, got ${JSON.stringify(text)}`);
  const power = ['', 'K', 'M', 'G', 'T'].indexOf(match[2]!.toUpperCase());
  return Math.floor(Number(match[1]) * 1024 ** power);
}

/** `1.5 GiB`, `612 MiB`. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return 'unknown';
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}
