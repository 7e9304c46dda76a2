/**
 * Thin wrappers over systemctl and journalctl: every call the systemd backend makes to
 * systemd goes through here, and a failure becomes RUSTLESS_BACKEND_FAILED with the tool's own
 * stderr.
 */
import { execa } from 'execa';
import { RustlessError } from '../../errors.js';

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
  const subprocess = execa('journalctl', args, { stdin: 'ignore', reject: false, buffer: { stdout: false, stderr: true }, cancelSignal: signal, lines: true });
  let result;
  try {
    for await (const line of subprocess.iterable({ from: 'stdout' })) yield String(line);
  } catch (error) {
    if (!signal?.aborted) throw error;
  } finally {
    if (subprocess.exitCode === null) subprocess.kill();
    result = await subprocess;
  }
  if (result.failed && !signal?.aborted) {
    const said = ([] as string[]).concat(result.stderr).join('; ').trim() || result.shortMessage;
    throw new RustlessError('RUSTLESS_BACKEND_FAILED', `\`journalctl ${args.join(' ')}\` failed: ${said}`, { details: { exitCode: result.exitCode ?? null } });
  }
}

export async function run(file: string, args: readonly string[]): Promise<string> {
  const result = await execa(file, args, { stdin: 'ignore', reject: false });
  if (result.failed) {
    const why = String(result.stderr || result.stdout || result.shortMessage).trim();
    throw new RustlessError('RUSTLESS_BACKEND_FAILED', `\`${file} ${args.join(' ')}\` failed: ${why}`, { details: { exitCode: result.exitCode ?? null } });
  }
  return result.stdout;
}
