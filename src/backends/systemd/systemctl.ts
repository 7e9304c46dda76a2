/**
 * Thin wrappers over systemctl and journalctl: every call the systemd backend makes to
 * systemd goes through here, and a failure becomes RUSTLESS_BACKEND_FAILED with the tool's own
 * stderr.
 */
import { RustlessError } from '../../errors.js';
import { commandLines, runCommand } from '../../process/run-command.js';

/** Runs `systemctl ARGS`; rejects with the command and its stderr when it fails. */
export async function systemctl(...args: string[]): Promise<string> {
  return run('systemctl', args);
}

export async function daemonReload(): Promise<void> {
  await systemctl('daemon-reload');
}

export interface UnitState {
  activeState: string;
  subState: string;
  mainPid: number;
  loadState: string;
}

/** The given properties of a unit (`systemctl show -p`), by name. */
export async function unitProperties(unit: string, names: readonly string[], flags: readonly string[] = []): Promise<Map<string, string>> {
  const text = await systemctl('show', unit, `--property=${names.join(',')}`, ...flags);
  const props = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) props.set(line.slice(0, at), line.slice(at + 1));
  }
  return props;
}

/** The unit's ActiveState, SubState, MainPID and LoadState (`not-found` for a unit that does not exist). */
export async function unitState(unit: string): Promise<UnitState> {
  const props = await unitProperties(unit, ['ActiveState', 'SubState', 'MainPID', 'LoadState']);
  return {
    activeState: props.get('ActiveState') ?? 'unknown',
    subState: props.get('SubState') ?? 'unknown',
    mainPid: Number(props.get('MainPID') ?? 0),
    loadState: props.get('LoadState') ?? 'unknown',
  };
}

/**
 * Lines of the unit's journal (`journalctl -u UNIT -o cat`): the last `lines` first, then, with
 * `follow`, new ones until `signal` aborts. journalctl failing is RUSTLESS_BACKEND_FAILED with
 * its own words, never a log that just ends.
 */
export async function* journal(unit: string, { lines = 100, follow = false, signal }: { lines?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<string> {
  // --merge: without it, `journalctl -f` reads the boot ID from /proc/sys/kernel/random/boot_id,
  // which rustless.service's ProcSubset=pid hides, and fails at once ("Failed to get boot ID").
  // Merged, it reads every journal this machine keeps; -u still picks the one unit.
  const args = ['-u', unit, '--merge', '-o', 'cat', '--no-pager', '-n', String(lines)];
  if (follow) args.push('-f');
  // A reader that stops early closes commandLines too (yield* passes it on): journalctl goes with it.
  const result = yield* commandLines('journalctl', args, { signal });
  if (result.exitCode !== 0 && !signal?.aborted) {
    const said = result.stderr.trim().replaceAll('\n', '; ') || `exit ${result.exitCode ?? 'by a signal'}`;
    throw new RustlessError('RUSTLESS_BACKEND_FAILED', `\`journalctl ${args.join(' ')}\` failed: ${said}`, { details: { exitCode: result.exitCode } });
  }
}

export async function run(file: string, args: readonly string[]): Promise<string> {
  const result = await runCommand(file, args);
  if (result.exitCode !== 0) {
    const why = (result.stderr || result.stdout || `exit ${result.exitCode ?? 'by a signal'}`).trim();
    throw new RustlessError('RUSTLESS_BACKEND_FAILED', `\`${file} ${args.join(' ')}\` failed: ${why}`, { details: { exitCode: result.exitCode } });
  }
  return result.stdout;
}
