/**
 * The systemd service this gateway runs as, and asking systemd to restart it: the gateway's own
 * restart after builds (fresh-start.ts) goes the way of `systemctl restart rustless`.
 */
import { readFileSync } from 'node:fs';
import { runCommand } from '../process/run-command.js';

/**
 * The service unit whose cgroup holds this process (`rustless.service`), from /proc/self/cgroup:
 * on a unified host its one line, on a hybrid one any of them. Undefined outside a service.
 */
export function ownServiceUnit(cgroupText = readCgroupFile()): string | undefined {
  for (const line of cgroupText.split('\n')) {
    const unit = /\/([^/]+\.service)$/.exec(line.trim())?.[1];
    if (unit !== undefined) return unit;
  }
  return undefined;
}

/** Queues a restart of `unit` and returns (`--no-block`): the restart stops this very process. */
export async function restartService(unit: string): Promise<void> {
  const result = await runCommand('systemctl', ['--no-block', 'restart', unit]);
  if (result.exitCode !== 0) throw new Error(`systemctl restart ${unit} exited ${result.exitCode}: ${result.stderr}`);
}

function readCgroupFile(): string {
  try {
    return readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return '';
  }
}
