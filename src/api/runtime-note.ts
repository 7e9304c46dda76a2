/**
 * One line on why an app is not serving, or how its runner last died, for `rustless ls` and
 * the TUI alike: the backend's start backoff first, else its runner's last unrequested exit.
 */
import type { RuntimeStatus } from '../backends/backend.js';

export function runtimeNote(runtime: RuntimeStatus, now = Date.now()): string | undefined {
  if (runtime.backoff) return runtime.backoff.message;
  const exit = runtime.lastExit;
  if (!exit) return undefined;
  return `last exit ${since(exit.at, now)}: ${exit.message}`;
}

function since(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds}s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}
