/**
 * Which request bodies a route takes: `accept` in rustless.toml (JSON only by default), no body
 * on GET or HEAD, and valid JSON whenever the body says it is JSON. The standalone runner keeps
 * the same rules (runner/rustless-runner/src/accept.rs).
 */
import { RustlessError } from '../errors.js';
import { isJsonContentType } from './read-body.js';

/** What a route takes when rustless.toml says nothing: `application/json` and `application/*+json`. */
export const DEFAULT_ACCEPT: readonly string[] = ['application/json'];

const TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** `type/subtype`, `type/*` or `*\/*`, lower-case, each part an HTTP token (RFC 9110 §8.3.1). */
export function isMediaRange(value: string): boolean {
  const [type, subtype, ...rest] = value.split('/');
  if (rest.length > 0 || type === undefined || subtype === undefined) return false;
  if (type === '*') return subtype === '*';
  if (!TOKEN.test(type) || type.includes('*')) return false;
  return subtype === '*' || (TOKEN.test(subtype) && !subtype.includes('*'));
}

/** Whether a body with this content type may reach a route with `accept`; no content type passes `*\/*` only. */
export function acceptsContentType(accept: readonly string[], contentType: string | undefined): boolean {
  const type = contentType === undefined ? '' : contentType.split(';')[0]!.trim().toLowerCase();
  return accept.some((range) => {
    if (range === '*/*') return true;
    if (type === '') return false;
    if (range === 'application/json') return isJsonContentType(type);
    return range.endsWith('/*') ? type.startsWith(range.slice(0, -1)) : range === type;
  });
}

/** A GET or HEAD carries no body: refused before any of it is read. */
export function bodyNotAllowed(method: string): RustlessError | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  return new RustlessError('RUSTLESS_BODY_NOT_ALLOWED', `a ${method} request carries no body`);
}

/** The error a non-empty body earns on a route that takes `accept` (default JSON only), or undefined. */
export function checkBody(accept: readonly string[] | undefined, contentType: string | undefined, body: Buffer): RustlessError | undefined {
  const ranges = accept ?? DEFAULT_ACCEPT;
  if (!acceptsContentType(ranges, contentType)) {
    const got = JSON.stringify(contentType ?? 'no content-type');
    const jsonOnly = ranges.length === 1 && ranges[0] === 'application/json';
    const message = jsonOnly ? `request body must be JSON (content-type: application/json), got ${got}` : `request body must be one of the types this route accepts (${ranges.join(', ')}), got ${got}`;
    return new RustlessError('RUSTLESS_UNSUPPORTED_MEDIA_TYPE', message);
  }
  if (!isJsonContentType(contentType)) return undefined;
  try {
    JSON.parse(body.toString('utf8'));
  } catch (error) {
    return new RustlessError('RUSTLESS_INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
  }
  return undefined;
}
