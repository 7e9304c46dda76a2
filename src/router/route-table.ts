/**
 * The routing table: every deployed app's routes in one trie, matched per request.
 * Literal segments beat `:param` segments beat a trailing `*rest`, segment by segment; a path
 * that matches with the wrong method answers 405 with the methods that would have matched.
 * A route for GET answers HEAD too, unless a route on the path answers HEAD itself.
 *
 * One app never captures another's requests: two apps' routes may not match a common path,
 * whatever their methods (`add` refuses it). A `fallback` route is the one exception: it
 * answers only paths that no ordinary route matches, and so never takes another app's 405.
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
  /** Answers only paths no ordinary route matches (`fallback = true` in rustless.toml). */
  fallback?: boolean;
  /** Media ranges of the bodies it takes (`accept` in rustless.toml); undefined: JSON only. */
  accept?: string[];
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

  /**
   * Builds a table, refusing conflicting routes; with `onConflict`, a conflict is reported there
   * and the route is added anyway (routes already serving, deployed under older rules, keep serving).
   */
  static from(targets: Iterable<RouteTarget>, { onConflict }: { onConflict?: (error: RustlessError) => void } = {}): RouteTable {
    const table = new RouteTable();
    for (const target of targets) {
      try {
        table.add(target);
      } catch (error) {
        if (!onConflict || !(error instanceof RustlessError) || error.code !== 'RUSTLESS_ROUTE_CONFLICT') throw error;
        onConflict(error);
        table.#insert(parsePattern(target.path), { target, names: paramNames(parsePattern(target.path)) });
        table.#targets.push(target);
      }
    }
    return table;
  }

  get size(): number {
    return this.#targets.length;
  }

  targets(): readonly RouteTarget[] {
    return this.#targets;
  }

  /**
   * Adds a route; throws RUSTLESS_ROUTE_CONFLICT naming both routes when it overlaps one
   * already here: within one app, the same pattern shape with a method in common; across
   * apps, any path both match (whatever the methods), unless exactly one of the two is a fallback.
   */
  add(target: RouteTarget): void {
    const segments = parsePattern(target.path);
    for (const other of this.#targets) {
      const otherSegments = parsePattern(other.path);
      if (other.app === target.app) {
        if (patternShape(otherSegments) === patternShape(segments) && methodsOverlap(other.methods, target.methods)) {
          throw conflict(target, other, `both answer ${patternShape(segments)} for the same method`);
        }
        continue;
      }
      if (Boolean(other.fallback) !== Boolean(target.fallback)) continue;
      const common = commonPath(segments, otherSegments);
      if (common !== undefined) {
        throw conflict(target, other, `both match ${common}, and one app may not take another app's requests (a catch-all route says \`fallback = true\`)`);
      }
    }
    this.#insert(segments, { target, names: paramNames(segments) });
    this.#targets.push(target);
  }

  /**
   * The route for a request. One walk of the trie in specificity order, stopping at the first
   * ordinary route that answers the method (the common case: nothing is allocated but the
   * params); the rest of the rules only when that walk finds no such route.
   */
  match(method: string, rawPath: string): MatchResult {
    const segments = splitPath(rawPath);
    if (!segments) return NOT_FOUND;
    const search = new Search(method);
    walk(this.#root, segments, 0, [], search);
    // Fallbacks only get a path no ordinary route matches, whatever the method.
    const hit = search.found ?? (search.sawOrdinary ? search.ordinaryGet : (search.fallbackMethod ?? search.fallbackGet));
    if (hit) {
      const params: Record<string, string> = {};
      const { names } = hit.entry;
      for (let i = 0; i < names.length; i++) params[names[i]!] = hit.values[i] ?? '';
      return { kind: 'found', target: hit.entry.target, params };
    }
    const allowed = search.sawOrdinary ? search.ordinaryAllowed : search.fallbackAllowed;
    if (allowed === undefined) return NOT_FOUND;
    if (allowed.has('GET')) allowed.add('HEAD');
    return { kind: 'method-not-allowed', allowed: [...allowed].sort() };
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
}

const NOT_FOUND: MatchResult = { kind: 'not-found' };

interface Candidate {
  entry: Entry;
  values: string[];
}

/** What one `match` has seen so far: the winner, or what the other rules need. */
class Search {
  readonly method: string;
  found: Candidate | undefined;
  sawOrdinary = false;
  /** For HEAD: the first ordinary route answering GET. */
  ordinaryGet: Candidate | undefined;
  ordinaryAllowed: Set<string> | undefined;
  fallbackMethod: Candidate | undefined;
  fallbackGet: Candidate | undefined;
  fallbackAllowed: Set<string> | undefined;

  constructor(method: string) {
    this.method = method;
  }

  /** Looks at one matching route; true when it is the answer and the walk can stop. */
  visit(entry: Entry, values: string[]): boolean {
    const { methods, fallback } = entry.target;
    const answers = methods.includes('*') || methods.includes(this.method);
    const answersGet = this.method === 'HEAD' && (methods.includes('*') || methods.includes('GET'));
    if (!fallback) {
      this.sawOrdinary = true;
      if (answers) {
        // The walk stops here, so `values` is not changed after this.
        this.found = { entry, values };
        return true;
      }
      if (answersGet && !this.ordinaryGet) this.ordinaryGet = { entry, values: [...values] };
      this.ordinaryAllowed ??= new Set();
      for (const m of methods) this.ordinaryAllowed.add(m);
    } else {
      if (answers && !this.fallbackMethod) this.fallbackMethod = { entry, values: [...values] };
      else if (answersGet && !this.fallbackGet) this.fallbackGet = { entry, values: [...values] };
      this.fallbackAllowed ??= new Set();
      for (const m of methods) this.fallbackAllowed.add(m);
    }
    return false;
  }
}

/**
 * Visits every route whose pattern matches the path, most specific first (literal, then
 * `:param`, then `*rest`, segment by segment), with the captured values in `values` (one stack,
 * pushed and popped); true when `search` stopped the walk.
 */
function walk(node: Node, segments: string[], index: number, values: string[], search: Search): boolean {
  if (index === segments.length) {
    for (const entry of node.entries) if (search.visit(entry, values)) return true;
    return false;
  }
  const segment = segments[index]!;
  const literal = node.literals.get(segment);
  if (literal && walk(literal, segments, index + 1, values, search)) return true;
  if (node.param) {
    values.push(segment);
    if (walk(node.param, segments, index + 1, values, search)) return true;
    values.pop();
  }
  if (node.wildcards.length > 0) {
    values.push(segments.slice(index).join('/'));
    for (const entry of node.wildcards) if (search.visit(entry, values)) return true;
    values.pop();
  }
  return false;
}

/**
 * A path both patterns match, for the error message, or undefined when they match none in
 * common. A `*rest` matches one or more segments; a `:param` any one segment.
 */
export function commonPath(a: Segment[], b: Segment[]): string | undefined {
  const walk = (i: number, j: number): string[] | undefined => {
    const x = a[i];
    const y = b[j];
    if (!x && !y) return [];
    if (x?.kind === 'wildcard' || y?.kind === 'wildcard') {
      // The wildcard takes the rest of the other pattern, which must match at least one segment.
      const rest = x?.kind === 'wildcard' ? b.slice(j) : a.slice(i);
      if (rest.length === 0) return undefined;
      return rest.map((s) => (s.kind === 'literal' ? s.value : 'x'));
    }
    if (!x || !y) return undefined;
    if (x.kind === 'literal' && y.kind === 'literal' && x.value !== y.value) return undefined;
    const tail = walk(i + 1, j + 1);
    if (!tail) return undefined;
    return [x.kind === 'literal' ? x.value : y.kind === 'literal' ? y.value : 'x', ...tail];
  };
  const path = walk(0, 0);
  return path && `/${path.join('/')}`;
}

function conflict(target: RouteTarget, other: RouteTarget, why: string): RustlessError {
  return new RustlessError('RUSTLESS_ROUTE_CONFLICT', `route ${describe(target)} conflicts with ${describe(other)}: ${why}`, {
    details: { route: describe(target), conflictsWith: describe(other), app: target.app, otherApp: other.app },
  });
}

/** Splits and percent-decodes a request path; undefined when it cannot be decoded. */
function splitPath(rawPath: string): string[] | undefined {
  if (rawPath.charCodeAt(0) !== 0x2f) return undefined;
  let end = rawPath.indexOf('?');
  if (end < 0) end = rawPath.length;
  const parts: string[] = [];
  for (let start = 1; start <= end; ) {
    let slash = rawPath.indexOf('/', start);
    if (slash < 0 || slash > end) slash = end;
    let part = rawPath.slice(start, slash);
    if (part.includes('%')) {
      try {
        part = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    }
    parts.push(part);
    start = slash + 1;
  }
  // "/todos/" matches "/todos": a trailing slash is forgiven.
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function paramNames(segments: Segment[]): string[] {
  return segments.flatMap((s) => (s.kind === 'literal' ? [] : [s.name]));
}

function methodsOverlap(a: string[], b: string[]): boolean {
  return a.includes('*') || b.includes('*') || a.some((m) => b.includes(m));
}

function describe(target: RouteTarget): string {
  return `${target.methods.join(',')} ${target.path}${target.fallback ? ' (fallback)' : ''} (app ${target.app}, function ${target.function})`;
}
