/**
 * Splits `rustless [GLOBAL OPTIONS] COMMAND [ARGS]`: global options may come before the command
 * (`rustless --host ssh://pi ls`, as `docker -H ssh://pi ps` and `kubectl --context x get`
 * take them) or after it, with its own flags. Before the command only global options are
 * known, so anything else there is an error that says where it belongs.
 */
import { UsageError } from './output.js';

export interface SplitArgv {
  /** The first word that is not a global option or its value. */
  command: string | undefined;
  /** Global options before the command, then everything after it. */
  args: string[];
}

/** `options`: the global ones, as parseArgs takes them. */
export function splitArgv(argv: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string }>): SplitArgv {
  const takesValue = new Set<string>();
  const known = new Set<string>();
  for (const [name, option] of Object.entries(options)) {
    const spellings = [`--${name}`, ...(option.short ? [`-${option.short}`] : [])];
    for (const spelling of spellings) {
      known.add(spelling);
      if (option.type === 'string') takesValue.add(spelling);
    }
  }
  let i = 0;
  while (i < argv.length) {
    const word = argv[i]!;
    if (word === '--' || !word.startsWith('-') || word === '-') break;
    const spelling = word.split('=', 1)[0]!;
    if (!known.has(spelling)) {
      throw new UsageError(`${spelling} is not a global option: put it after the command (global options: ${[...known].filter((k) => k.startsWith('--')).join(', ')})`);
    }
    i += takesValue.has(spelling) && !word.includes('=') ? 2 : 1;
  }
  const leading = argv.slice(0, Math.min(i, argv.length));
  if (argv[i] === '--') return { command: undefined, args: argv };
  return { command: argv[i], args: [...leading, ...argv.slice(i + 1)] };
}

/** The candidate closest to `word` (a typo's distance, or a prefix), if any is close. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = name.startsWith(word) || word.startsWith(name) ? Math.min(1, editDistance(word, name)) : editDistance(word, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  if (!best) return undefined;
  // Within 2 edits and less than half the word changed: `lss` -> `ls`, not `x` -> `ls`.
  return best.distance <= 2 && best.distance <= Math.ceil(word.length / 2) ? best.name : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
