/**
 * A small YAML writer for the manifests `rustless export` writes: plain objects, arrays, strings,
 * numbers and booleans. Every string is written double-quoted (a JSON string is a valid YAML
 * double-quoted scalar), so "0", "true" or "8080" can never turn into another type on the way.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue | undefined };

/** One YAML stream of `documents`, separated by `---`. */
export function toYaml(documents: readonly YamlValue[]): string {
  return documents.map((doc) => `---\n${block(doc, 0)}`).join('');
}

function block(value: YamlValue, indent: number): string {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    return value
      .map((item) => {
        if (isNested(item)) {
          // The first key goes on the dash's line, the rest below it.
          const inner = block(item, indent + 2);
          return `${pad}- ${inner.slice(indent + 2)}`;
        }
        return `${pad}- ${scalar(item)}\n`;
      })
      .join('');
  }
  if (isObject(value)) {
    const entries = Object.entries(value).filter((entry): entry is [string, YamlValue] => entry[1] !== undefined);
    if (entries.length === 0) return `${pad}{}\n`;
    return entries
      .map(([key, item]) => {
        const name = /^[A-Za-z_][A-Za-z0-9_.\/-]*$/.test(key) ? key : JSON.stringify(key);
        if (isNested(item)) return `${pad}${name}:\n${block(item, Array.isArray(item) ? indent : indent + 2)}`;
        return `${pad}${name}: ${scalar(item)}\n`;
      })
      .join('');
  }
  return `${pad}${scalar(value)}\n`;
}

function isNested(value: YamlValue): boolean {
  return (Array.isArray(value) && value.length > 0) || (isObject(value) && Object.values(value).some((v) => v !== undefined));
}

function isObject(value: YamlValue): value is { [key: string]: YamlValue | undefined } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalar(value: YamlValue): string {
  if (Array.isArray(value)) return '[]';
  if (isObject(value)) return '{}';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`cannot write ${value} in YAML`);
  return String(value);
}
