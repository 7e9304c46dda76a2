/**
 * The routing table: every deployed app's routes in one trie, matched per request.
 * Literal segments beat `:param` segments beat a trailing `*rest`, segment by segment; a path
 * that matches with the wrong method answers 405 with the methods that would have matched.
 */
import { RustlessError } from '../errors.js';
import { parsePattern, patternShape, type Segment } from './pattern.js';

export interface RouteTarget {
  app: string;
  function: string;
  /** The pattern as written in rustless.toml. */
  path: string;
  methods: string[];
  timeoutMs: number;
  maxBodyBytes: number;
}

export type MatchResult =
  | { kind: 'found'; target: RouteTarget; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

interface Entry {
  target: RouteTarget;
  names: string[];
}

class Node {
  readonly literals = new Map<string, Node>();
  param: Node | undefined;
  /** Routes ending here. */
  readonly entries: Entry[] = [];
  /** Routes ending in a `*rest` below this node. */
  readonly wildcards: Entry[] = [];
}

export class RouteTable {
  readonly #root = new Node();
  readonly #targets: RouteTarget[] = [];

  /** Builds a table, refusing conflicting routes. */
  static from(targets: Iterable<RouteTarget>): RouteTable {
    const table = new RouteTable();
    for (const target of targets) table.add(target);
    return table;
  }

  get size(): number {
    return this.#targets.length;
  }

  targets(): readonly RouteTarget[] {
    return this.#targets;
  }

  /** Adds a route; throws RUSTLESS_ROUTE_CONFLICT naming both routes when one already answers the same requests. */
  add(target: RouteTarget): void {
    const segments = parsePattern(target.path);
    const conflict = this.#targets.find(
      (other) => patternShape(parsePattern(other.path)) === patternShape(segments) && methodsOverlap(other.methods, target.methods),
    );
    if (conflict) {
      throw new RustlessError('RUSTLESS_ROUTE_CONFLICT', `route ${describe(target)} conflicts with ${describe(conflict)}`, {
        details: { route: describe(target), conflictsWith: describe(conflict) },
      });
    }
    this.#insert(segments, { target, names: paramNames(segments) });
    this.#targets.push(target);
  }

  match(method: string, rawPath: string): MatchResult {
    const segments = splitPath(rawPath);
    if (!segments) return { kind: 'not-found' };
    const allowed = new Set<string>();
    for (const { entry, values } of this.#candidates(segments)) {
      if (entry.target.methods.includes('*') || entry.target.methods.includes(method)) {
        const params: Record<string, string> = {};
        entry.names.forEach((name, index) => (params[name] = values[index] ?? ''));
        return { kind: 'found', target: entry.target, params };
      }
      for (const m of entry.target.methods) allowed.add(m);
    }
    if (allowed.size > 0) return { kind: 'method-not-allowed', allowed: [...allowed].sort() };
    return { kind: 'not-found' };
  }

  #insert(segments: Segment[], entry: Entry): void {
    let node = this.#root;
    for (const segment of segments) {
      if (segment.kind === 'wildcard') {
        node.wildcards.push(entry);
        return;
      }
      if (segment.kind === 'literal') {
        let next = node.literals.get(segment.value);
        if (!next) node.literals.set(segment.value, (next = new Node()));
        node = next;
      } else {
        node = node.param ??= new Node();
      }
    }
    node.entries.push(entry);
  }

  /** Every route whose pattern matches the path, most specific first, with its captured values. */
  *#candidates(segments: string[]): Generator<{ entry: Entry; values: string[] }> {
    function* walk(node: Node, index: number, values: string[]): Generator<{ entry: Entry; values: string[] }> {
      if (index === segments.length) {
        for (const entry of node.entries) yield { entry, values };
      } else {
        const segment = segments[index]!;
        const literal = node.literals.get(segment);
        if (literal) yield* walk(literal, index + 1, values);
        if (node.param) yield* walk(node.param, index + 1, [...values, segment]);
      }
      if (index < segments.length) {
        const rest = segments.slice(index).join('/');
        for (const entry of node.wildcards) yield { entry, values: [...values, rest] };
      }
    }
    yield* walk(this.#root, 0, []);
  }
}

/** Splits and percent-decodes a request path; undefined when it cannot be decoded. */
function splitPath(rawPath: string): string[] | undefined {
  const path = rawPath.split('?')[0] ?? '';
  if (!path.startsWith('/')) return undefined;
  const parts = path.slice(1).split('/');
  // "/todos/" matches "/todos": a trailing slash is forgiven.
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  try {
    return parts.map((part) => decodeURIComponent(part));
  } catch {
    return undefined;
  }
}

function paramNames(segments: Segment[]): string[] {
  return segments.flatMap((s) => (s.kind === 'literal' ? [] : [s.name]));
}

function methodsOverlap(a: string[], b: string[]): boolean {
  return a.includes('*') || b.includes('*') || a.some((m) => b.includes(m));
}

function describe(target: RouteTarget): string {
  return `${target.methods.join(',')} ${target.path} (app ${target.app}, function ${target.function})`;
}
