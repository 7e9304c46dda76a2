/**
 * An app's memory limit for `rustless ls` and the TUI alike: the limit only where something
 * enforces it, so that no screen claims a limit the kernel does not hold.
 */
import type { AppMemory } from './types.js';

/** The short cell: `128M`, `none` when nothing enforces it, `-` before a build serves. */
export function memoryCell(memory: AppMemory): string {
  if (memory.limit === null) return '-';
  return memory.enforced ? memory.limit : 'none';
}

/** One line on why memory is not limited and the fix, when it is not. */
export function memoryNote(memory: AppMemory): string | undefined {
  if (memory.enforced) return undefined;
  const written = memory.limit === null ? '' : ` (rustless.toml's ${memory.limit} is not enforced)`;
  return `memory is not limited${written}: ${memory.reason ?? 'nothing enforces it'}${memory.fix ? `. Fix: ${memory.fix}` : ''}`;
}
