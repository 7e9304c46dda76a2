/**
 * Route patterns: literal segments, `:param` segments, and an optional trailing `*rest`.
 * `/todos/:id` and `/files/*path` are patterns; `/a//b`, `/:1x` and `/*rest/more` are not.
 */
export type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'wildcard'; name: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = /^[A-Za-z0-9\-._~!$&'()+,;=@%]+$/;

export function parsePattern(path: string): Segment[] {
  if (!path.startsWith('/')) throw new Error(`must start with "/", got ${JSON.stringify(path)}`);
  if (path === '/') return [];
  const parts = path.slice(1).split('/');
  const names = new Set<string>();
  return parts.map((part, index) => {
    const where = `segment ${index + 1} of ${JSON.stringify(path)}`;
    if (part === '') throw new Error(`has an empty ${where} (a double or trailing "/")`);
    if (part.startsWith(':') || part.startsWith('*')) {
      const name = part.slice(1);
      if (!NAME.test(name)) throw new Error(`has an invalid parameter name in ${where}: ${JSON.stringify(part)}`);
      if (names.has(name)) throw new Error(`uses the parameter name ${JSON.stringify(name)} twice`);
      names.add(name);
      if (part.startsWith('*')) {
        if (index !== parts.length - 1) throw new Error(`has a wildcard ${JSON.stringify(part)} that is not the last segment`);
        return { kind: 'wildcard', name };
      }
      return { kind: 'param', name };
    }
    if (!LITERAL.test(part)) throw new Error(`has characters a URL path cannot hold in ${where}: ${JSON.stringify(part)}`);
    return { kind: 'literal', value: part };
  });
}

/** The pattern with parameter names erased: two routes with the same shape match the same paths. */
export function patternShape(segments: Segment[]): string {
  return '/' + segments.map((s) => (s.kind === 'literal' ? s.value : s.kind === 'param' ? ':' : '*')).join('/');
}
