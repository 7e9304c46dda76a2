/**
 * What a starting gateway does about the one before it: a power cut, a crash or a SIGKILL leaves
 * no chance to tidy up, so the next start checks and repairs instead (docs/power-loss.md), and
 * says what it did in one log line. A marker file tells a clean stop from an unclean one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeFileDurable, writeFileDurable } from '../storage/durable-file.js';
import { isNoSpace } from '../storage/no-space.js';

const MARKER = 'gateway.running';

/** Records that a gateway runs on `stateDir`; true when the previous one never said it stopped. */
export async function markRunning(stateDir: string): Promise<boolean> {
  const marker = join(stateDir, MARKER);
  const unclean = existsSync(marker);
  try {
    await writeFileDurable(marker, `${process.pid} ${new Date().toISOString()}\n`, { mode: 0o644 });
  } catch (error) {
    // On a full disk the gateway still serves; the next start then counts as unclean, and checks.
    if (!isNoSpace(error)) throw error;
    console.error(`rustless: ${marker} could not be written (no space left on device); the next start checks the state as after a power cut`);
  }
  return unclean;
}

/** Records a clean stop: the next start skips the checks an unclean stop needs. */
export async function markStopped(stateDir: string): Promise<void> {
  await removeFileDurable(join(stateDir, MARKER)).catch(() => undefined);
}

/** The one line a start logs after an unclean stop, or when it repaired anything. */
export function recoveryLine(unclean: boolean, done: readonly string[], liveApps: number): string | undefined {
  if (!unclean && done.length === 0) return undefined;
  const what = done.length === 0 ? 'nothing needed repair' : done.join('; ');
  return `rustless: ${unclean ? 'the last gateway did not stop cleanly; ' : ''}recovery: ${what} (registry integrity ok, ${liveApps} live app${liveApps === 1 ? '' : 's'} in place)`;
}
