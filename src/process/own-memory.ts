import { readFileSync } from 'node:fs';

/**
 * This process's own memory (RssAnon), in bytes: most of a node's RSS is pages of node's files,
 * shared with every other node and clean. Undefined where /proc does not say.
 */
export function ownMemoryBytes(): number | undefined {
  try {
    const kib = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}
