/**
 * How an app's runner last ended on its own, read from the journal: systemd logs every
 * unclean end of a unit's main process (conmon, whose status is the container's) with
 * structured fields, and the unit's `Result=` when it fails. The journal keeps them after the
 * next start, which resets the unit's own properties; and the gateway often hears of a crash
 * (its connection drops) before systemd does.
 *
 * An out-of-memory kill is `Result=oom-kill` where systemd sees it (the unified cgroup
 * hierarchy); on cgroup v1 it is only a SIGKILL (status 137), so the kernel's OOM report for the
 * unit's cgroup decides.
 */
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LastExit } from '../backend.js';
import { runCommand } from '../../process/run-command.js';

/** "Main process exited" (EXIT_CODE=, EXIT_STATUS=); logged only for an unclean exit. */
export const PROCESS_EXIT = '98e322203f7a4ed290d09fe03c09fe15';
/** "Failed with result" (UNIT_RESULT=). */
export const UNIT_FAILED = 'd9b373ed55a64feb8242e02dbe79a49c';
/** "A process of this unit has been killed by the OOM killer." */
export const UNIT_OOM = 'fe6faa94e7774663a0da52717891d8ef';
/**
 * No entry of the last failure is older than this before its last. On a loaded machine they
 * spread out: in the emulated Pi an OOM kill, conmon's exit and the unit's result came over 13 s.
 */
const EPISODE_MICROS = 60_000_000;

export interface Entry {
  MESSAGE_ID?: string;
  /** A string, or an array of bytes when it is not valid UTF-8. */
  MESSAGE?: string | number[];
  EXIT_CODE?: string;
  EXIT_STATUS?: string;
  UNIT_RESULT?: string;
  __REALTIME_TIMESTAMP?: string;
}

/** The last unrequested end of `service`, or undefined when it never ended so. */
export async function readRunnerExit(service: string, memoryLimit: string | undefined): Promise<LastExit | undefined> {
  const entries = await journalEntries(['-u', service, '-n', '20', `MESSAGE_ID=${PROCESS_EXIT}`, `MESSAGE_ID=${UNIT_FAILED}`, `MESSAGE_ID=${UNIT_OOM}`]);
  const episode = lastFailure(entries);
  const last = episode.at(-1);
  if (!last) return undefined;
  const micros = Number(last.__REALTIME_TIMESTAMP ?? 0);
  const exitEntry = episode.findLast((entry) => entry.MESSAGE_ID === PROCESS_EXIT);
  const result = episode.findLast((entry) => entry.MESSAGE_ID === UNIT_FAILED)?.UNIT_RESULT;
  const at = new Date(Number(exitEntry?.__REALTIME_TIMESTAMP ?? micros) / 1000).toISOString();
  const limit = memoryLimit ?? 'unknown';
  const oom = (status?: number): LastExit => ({ reason: 'oom-kill', message: `out of memory: killed at its memory limit of ${limit}`, at, memoryLimit: limit, ...(status === undefined ? {} : { exitStatus: status }) });

  if (result === 'oom-kill' || episode.some((entry) => entry.MESSAGE_ID === UNIT_OOM)) return oom();
  if (result === 'timeout') return { reason: 'start-failed', message: 'did not become ready in time (or did not stop in time)', at };
  if (result === 'protocol') return { reason: 'start-failed', message: 'ended before it said it was ready', at };
  if (result === 'start-limit-hit') return { reason: 'start-failed', message: 'systemd refused to start it again so soon (start limit)', at };
  if (!exitEntry) return { reason: 'start-failed', message: `failed (${result ?? 'unknown'})`, at };

  // Podman passes the container's status on: 128 + N when the runner died of signal N.
  const status = Number(exitEntry.EXIT_STATUS);
  const signal = exitEntry.EXIT_CODE === 'exited' ? (status > 128 ? signalName(status - 128) : undefined) : `SIG${exitEntry.EXIT_STATUS ?? '?'}`;
  if (signal) {
    if (signal === 'SIGKILL' && (await killedByOom(service, Number(exitEntry.__REALTIME_TIMESTAMP ?? micros)))) return oom(Number.isNaN(status) ? undefined : status);
    return { reason: 'signal', message: `killed by ${signal}`, at, signal, ...(Number.isNaN(status) ? {} : { exitStatus: status }) };
  }
  const cause = PODMAN_FAILED.has(status) ? await podmanError(service, Number(exitEntry.__REALTIME_TIMESTAMP ?? micros)) : undefined;
  const why = PODMAN_FAILED.has(status) ? ` (Podman could not run the container${cause ? `: ${cause}` : ''})` : '';
  return { reason: 'exit-code', message: `exited with status ${status}${why}`, at, exitStatus: status };
}

/**
 * The entries of the last failure, oldest first: what systemd logged about it (the process's
 * exit, an OOM kill, the unit's result) after the failure before it ended with its own result,
 * and within EPISODE_MICROS.
 */
export function lastFailure(entries: readonly Entry[]): Entry[] {
  const micros = (entry: Entry): number => Number(entry.__REALTIME_TIMESTAMP ?? 0);
  const last = entries.at(-1);
  if (!last) return [];
  let start = entries.length - 1;
  while (start > 0) {
    const before = entries[start - 1]!;
    if (before.MESSAGE_ID === UNIT_FAILED || micros(last) - micros(before) > EPISODE_MICROS) break;
    start--;
  }
  return entries.slice(start);
}

/** Podman's own statuses: it failed (125), or the runtime could not run (126) or find (127) the command. */
const PODMAN_FAILED = new Set([125, 126, 127]);
/** A cause longer than this is cut: it goes into a one-line error. */
const CAUSE_CHARS = 200;

/**
 * Podman's `Error: ...` line in the unit's journal in the seconds before `micros`: why the
 * container could not run ("crun: mkdir `/var/tmp`: No space left on device" on a full card, "image
 * not known"), which the status alone does not say.
 */
async function podmanError(service: string, micros: number): Promise<string | undefined> {
  const entries = await journalEntries(['-u', service, '-n', '50', `--until=@${Math.ceil(micros / 1e6) + 1}`]);
  const error = entries.findLast((entry) => typeof entry.MESSAGE === 'string' && entry.MESSAGE.startsWith('Error: ') && micros - Number(entry.__REALTIME_TIMESTAMP ?? 0) <= EPISODE_MICROS);
  const text = (error?.MESSAGE as string | undefined)?.slice('Error: '.length).trim();
  return text && text.length > CAUSE_CHARS ? `${text.slice(0, CAUSE_CHARS - 1)}…` : text;
}

/**
 * How long after a SIGKILL the kernel's OOM report may still be on its way into the journal:
 * journald reads /dev/kmsg and systemd's own messages from different sources, so systemd's
 * "Main process exited" can be stored first, and a kernel entry's time is when journald read
 * it (CI, its machine busy, saw a fresh OOM kill read as a plain SIGKILL).
 */
const OOM_REPORT_WAIT_MS = 3_000;

/** Whether the kernel reported an OOM kill in the unit's cgroup in the minute before `micros`. */
async function killedByOom(service: string, micros: number): Promise<boolean> {
  const since = Math.floor(micros / 1e6) - 60;
  const until = Math.ceil((micros / 1000 + OOM_REPORT_WAIT_MS) / 1000) + 1;
  // `oom_memcg=/system.slice/<service>,` (the runner in the unit's own cgroup) or a cgroup below it.
  const inUnit = new RegExp(`/${service.replaceAll('.', '\\.')}[/,]`);
  for (;;) {
    // _TRANSPORT=kernel, not `-k`: that implies `-b`, which needs the boot id from /proc/sys,
    // hidden by the gateway's ProcSubset=pid.
    const journal = await runCommand('journalctl', ['_TRANSPORT=kernel', '-o', 'cat', '--no-pager', '-q', '-n', '500', `--since=@${since}`, `--until=@${until}`]);
    if (journal.stdout.split('\n').some((line) => line.startsWith('oom-kill:') && inUnit.test(line))) return true;
    if (Date.now() - micros / 1000 > OOM_REPORT_WAIT_MS) return false;
    await sleep(200);
  }
}

async function journalEntries(args: readonly string[]): Promise<Entry[]> {
  const result = await runCommand('journalctl', ['-o', 'json', '--no-pager', '-q', ...args]);
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Entry);
}

function signalName(number: number): string {
  const found = Object.entries(constants.signals).find(([, value]) => value === number);
  return found ? found[0] : `signal ${number}`;
}
