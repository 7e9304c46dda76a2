/**
 * The kernel's cgroup freezer for an app's runner, written directly by the gateway: a frozen
 * runner gets no CPU and keeps its memory, and thawing it is one small file write (a few µs),
 * cheap enough for the request path. Everything that finds the files (systemctl, /proc reads,
 * waiting for the kernel to finish freezing) happens at freeze time, off the request path.
 *
 * - cgroup2 (the unified hierarchy, what Raspberry Pi OS boots): `cgroup.freeze` of a cgroup below
 *   the unit's, `payload`, which the gateway moves the unit's processes into (`v2FreezerCgroup`);
 *   the kernel reports `frozen 1` in its `cgroup.events`. Not the unit's own cgroup: systemd
 *   starts a stop's control processes there (the unit's ExecStop= that thaws it), and a frozen
 *   cgroup freezes them before they run, so a shutdown waited for ever. On a hybrid host the empty
 *   cgroup2 at `/sys/fs/cgroup/unified` works the same (systemd tracks its units there).
 * - cgroup v1: `freezer.state` (FROZEN/THAWED) of a freezer cgroup the gateway makes for the
 *   unit's processes other than its main one, conmon (`v1FreezerCgroup`).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeDirectory } from '../../storage/make-directory.js';

export type FreezerKind = 'cgroup1' | 'cgroup2';
/** `auto`: cgroup2 on a unified host, the v1 freezer controller on a hybrid or legacy one. */
export type FreezerChoice = FreezerKind | 'auto';

/** What `freeze` wrote, and what undoes it: kept by the backend and in a file under /run. */
export interface FrozenCgroups {
  kind: FreezerKind;
  /** The state files written (`cgroup.freeze`, or one `freezer.state` per cgroup). */
  files: string[];
}

export interface FreezerHierarchy {
  kind: FreezerKind;
  /** Where the hierarchy is mounted: `/sys/fs/cgroup`, `/sys/fs/cgroup/unified`, `/sys/fs/cgroup/freezer`. */
  root: string;
}

const CGROUP = '/sys/fs/cgroup';
/** How long the kernel may take to freeze every task before the freeze is given up. */
const FREEZE_WAIT_MS = 2_000;

/** The freezer this host offers, or undefined when it has none the gateway can use. */
export function findFreezer(choice: FreezerChoice = 'auto', cgroupRoot = CGROUP): FreezerHierarchy | undefined {
  const unified = existsSync(join(cgroupRoot, 'cgroup.controllers'));
  const v2Root = unified ? cgroupRoot : existsSync(join(cgroupRoot, 'unified', 'cgroup.controllers')) ? join(cgroupRoot, 'unified') : undefined;
  const v1Root = !unified && existsSync(join(cgroupRoot, 'freezer', 'tasks')) ? join(cgroupRoot, 'freezer') : undefined;
  if (choice === 'cgroup2') return v2Root ? { kind: 'cgroup2', root: v2Root } : undefined;
  if (choice === 'cgroup1') return v1Root ? { kind: 'cgroup1', root: v1Root } : undefined;
  if (unified) return { kind: 'cgroup2', root: cgroupRoot };
  if (v1Root) return { kind: 'cgroup1', root: v1Root };
  return v2Root ? { kind: 'cgroup2', root: v2Root } : undefined;
}

/**
 * Freezes the unit whose cgroup is `controlGroup` (systemd's `ControlGroup=`, relative to the
 * hierarchy's root) and whose main process is `mainPid`, and waits until the kernel says every
 * task is frozen. Resolves with what to thaw, or undefined when there is nothing of the unit to
 * freeze (it stopped meanwhile); rejects when the kernel does not finish freezing in time (then
 * it thawed again).
 */
export async function freezeUnit(hierarchy: FreezerHierarchy, controlGroup: string, mainPid: number, cgroupRoot = CGROUP): Promise<FrozenCgroups | undefined> {
  const frozen: FrozenCgroups = { kind: hierarchy.kind, files: [] };
  if (hierarchy.kind === 'cgroup2') {
    const dir = await v2FreezerCgroup(join(hierarchy.root, controlGroup));
    if (dir === undefined) return undefined;
    frozen.files.push(join(dir, 'cgroup.freeze'));
  } else {
    const dir = await v1FreezerCgroup(hierarchy.root, controlGroup, mainPid, cgroupRoot);
    if (dir === undefined) return undefined;
    frozen.files.push(join(dir, 'freezer.state'));
  }
  for (const file of frozen.files) await writeFile(file, hierarchy.kind === 'cgroup2' ? '1' : 'FROZEN');
  const deadline = Date.now() + FREEZE_WAIT_MS;
  while (!(await allFrozen(frozen))) {
    if (Date.now() > deadline) {
      thaw(frozen);
      throw new Error(`the kernel did not finish freezing ${controlGroup} within ${FREEZE_WAIT_MS} ms`);
    }
    await sleep(2);
  }
  return frozen;
}

/**
 * Thaws what `freezeUnit` froze: synchronous, one write per file, for the request path.
 * False when the cgroup is gone (the unit stopped or was replaced while frozen).
 */
export function thaw(frozen: FrozenCgroups): boolean {
  let present = false;
  for (const file of frozen.files) {
    try {
      writeFileSync(file, frozen.kind === 'cgroup2' ? '0' : 'THAWED');
      present = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return present;
}

/**
 * The record of a freeze kept under /run (`<runtimeDir>/frozen/<app>`): one `<file> <value>` line
 * per freezer file, the value that thaws it. The app's unit reads it with `sh` before a stop
 * (its ExecStop=), a later gateway with `parseRecord`.
 */
export function recordText(frozen: FrozenCgroups): string {
  return frozen.files.map((file) => `${file} ${frozen.kind === 'cgroup2' ? '0' : 'THAWED'}\n`).join('');
}

export function parseRecord(text: string): FrozenCgroups {
  const files = text.split('\n').filter(Boolean).map((line) => line.split(' ')[0]!);
  return { kind: files.some((file) => file.endsWith('/cgroup.freeze')) ? 'cgroup2' : 'cgroup1', files };
}

/** Whether the kernel reports the cgroups as frozen now (for tests and status). */
export async function allFrozen(frozen: FrozenCgroups): Promise<boolean> {
  for (const file of frozen.files) {
    if (frozen.kind === 'cgroup2') {
      const events = await readFile(join(file, '..', 'cgroup.events'), 'utf8');
      if (!/^frozen 1$/m.test(events)) return false;
    } else if ((await readFile(file, 'utf8')).trim() !== 'FROZEN') return false;
  }
  return true;
}

/** The cgroup2 below a unit's that holds its processes while the warm tier may freeze them. */
const PAYLOAD_CGROUP = 'payload';

/**
 * The cgroup2 `payload` below the unit's cgroup `unitDir`, holding every process of the unit:
 * the runner and conmon (the container has no cgroup of its own, `--cgroups=disabled`). Made at
 * the first freeze and kept while the unit runs; the processes stay in it when thawed, and what
 * they fork is born there. The unit's own cgroup keeps no process, so what systemd starts in it
 * later (a stop's ExecStop=) is never frozen. systemd enables no controller below a unit without
 * Delegate=, so the processes may move down, and their memory and tasks still count against the
 * unit's limits, enforced on its cgroup; systemd kills and removes the subtree with the unit.
 * Undefined when the unit has no process left (it stopped).
 */
async function v2FreezerCgroup(unitDir: string): Promise<string | undefined> {
  const dir = join(unitDir, PAYLOAD_CGROUP);
  try {
    // Not `mkdir -p`: a unit that stopped meanwhile must not get its cgroup made again.
    await mkdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EEXIST') throw error;
  }
  // A process forked while the others moved is listed on the next round.
  for (let round = 0; round < 5; round++) {
    const pids = processesIn(unitDir);
    if (pids.length === 0) break;
    for (const pid of pids) await moveProcess(dir, pid);
  }
  return processesIn(dir).length > 0 ? dir : undefined;
}

/** Moves one process into the cgroup `dir`; one that ended since it was listed is no error. */
async function moveProcess(dir: string, pid: number): Promise<boolean> {
  try {
    await writeFile(join(dir, 'cgroup.procs'), String(pid));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    return false;
  }
}

/**
 * A v1 freezer cgroup holding the unit's processes except its main one (conmon), at the unit's
 * own path in the freezer hierarchy: systemd does not manage that controller, and the runner,
 * which has no cgroup of Podman's (`--cgroups=disabled`), sits wherever conmon's freezer cgroup
 * is (Podman's `runtime` cgroup, shared by every container's conmon). So the processes are moved
 * into a cgroup of the app's own, made here and kept for its next freeze. The processes come
 * from the unit's cgroup in the hierarchy systemd tracks them in (`name=systemd`, or the cgroup2
 * of a hybrid host). Undefined when the unit has no process but its main one (it stopped).
 */
async function v1FreezerCgroup(freezerRoot: string, controlGroup: string, mainPid: number, cgroupRoot: string): Promise<string | undefined> {
  const tracking = [join(cgroupRoot, 'systemd'), join(cgroupRoot, 'unified')].map((root) => join(root, controlGroup)).find((dir) => existsSync(dir));
  if (tracking === undefined) return undefined;
  const dir = join(freezerRoot, controlGroup);
  await makeDirectory(dir);
  let moved = 0;
  for (const pid of processesUnder(tracking)) {
    if (pid !== mainPid && (await moveProcess(dir, pid))) moved++;
  }
  return moved > 0 ? dir : undefined;
}

/** The processes directly in the cgroup `dir` (none when it is gone). */
function processesIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return [];
  }
}

/** The processes in the cgroup `dir` and every cgroup below it. */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  const walk = (at: string): void => {
    pids.push(...processesIn(at));
    for (const entry of readdirSync(at, { withFileTypes: true })) if (entry.isDirectory()) walk(join(at, entry.name));
  };
  try {
    walk(dir);
  } catch (error) {
    // The unit stopped while being walked: what was found is what there is.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return pids;
}
