/**
 * How an app's runner last ended, read from systemd: the service's `Result=` and its main
 * process's status (conmon's, which is the container's exit status). An out-of-memory kill is
 * `Result=oom-kill` where systemd sees it (the unified cgroup hierarchy); on cgroup v1 it shows
 * only as a SIGKILL (137), so the kernel's OOM report for the unit's cgroup in the journal
 * decides.
 */
import { constants } from 'node:os';
import { execa } from 'execa';
import type { RunnerExit } from '../backend.js';
import { unitProperties } from './systemctl.js';

const PROPERTIES = ['Result', 'ExecMainCode', 'ExecMainStatus', 'ExecMainStartTimestamp', 'ExecMainExitTimestamp', 'InactiveEnterTimestamp'];
/** CLD_EXITED in ExecMainCode: the main process exited (rather than being killed). */
const CLD_EXITED = '1';

/** The last unrequested end of `service`, or undefined when it ended cleanly or never ran. */
export async function readRunnerExit(service: string, memoryLimit: string | undefined): Promise<RunnerExit | undefined> {
  const props = await unitProperties(service, PROPERTIES, ['--timestamp=unix']);
  const result = props.get('Result') ?? 'success';
  if (result === 'success') return undefined;
  const at = isoTime(props.get('ExecMainExitTimestamp')) ?? isoTime(props.get('InactiveEnterTimestamp')) ?? new Date().toISOString();
  const status = Number(props.get('ExecMainStatus') ?? 0);
  const exited = props.get('ExecMainCode') === CLD_EXITED;
  // Podman passes the container's status on: 128 + N when the runner died of signal N.
  const signalNumber = exited ? (status > 128 ? status - 128 : 0) : status;
  const limit = memoryLimit ?? 'unknown';
  const oom = (): RunnerExit => ({ reason: 'oom-kill', message: `out of memory: killed at its memory limit of ${limit}`, at, memoryLimit: limit, exitStatus: status });

  if (result === 'oom-kill') return oom();
  if (result === 'timeout') return { reason: 'start-failed', message: 'did not become ready in time (or did not stop in time)', at };
  if (result === 'protocol') return { reason: 'start-failed', message: 'ended before it said it was ready', at, exitStatus: status };
  if (result === 'start-limit-hit') return { reason: 'start-failed', message: 'systemd refused to start it again so soon (start limit)', at };
  if (signalNumber > 0) {
    const signal = signalName(signalNumber);
    if (signal === 'SIGKILL' && (await killedByOom(service, props.get('ExecMainStartTimestamp')))) return oom();
    return { reason: 'signal', message: `killed by ${signal}${signal === 'SIGABRT' ? ' (the process aborted)' : ''}`, at, exitStatus: status, signal };
  }
  if (status !== 0) return { reason: 'exit-code', message: `exited with status ${status}`, at, exitStatus: status };
  return { reason: 'start-failed', message: `failed (${result})`, at };
}

/** Whether the kernel logged an OOM kill in the unit's cgroup since `since` (`@<unix seconds>`). */
async function killedByOom(service: string, since: string | undefined): Promise<boolean> {
  // Not `-k`: that implies `-b`, which needs the boot id in /proc/sys, hidden by the gateway's ProcSubset=pid.
  const args = ['_TRANSPORT=kernel', '-o', 'cat', '--no-pager', '-q', '-n', '500'];
  if (since && /^@\d+$/.test(since)) args.push(`--since=${since}`);
  const journal = await execa('journalctl', args, { reject: false, stdin: 'ignore' });
  return journal.stdout.split('\n').some((line) => line.startsWith('oom-kill:') && line.includes(`/${service}/`));
}

function signalName(number: number): string {
  const found = Object.entries(constants.signals).find(([, value]) => value === number);
  return found ? found[0] : `signal ${number}`;
}

function isoTime(unix: string | undefined): string | undefined {
  const match = /^@(\d+)/.exec(unix ?? '');
  return match ? new Date(Number(match[1]) * 1000).toISOString() : undefined;
}
