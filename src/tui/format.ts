/** Small text helpers for the TUI's columns: times, durations, route lists. */
import type { RouteInfo } from '../api/types.js';

/** `3s ago`, `5m ago`, `2h ago`, `4d ago`; `never` for null. */
export function ago(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function ms(value: number | null): string {
  if (value === null) return '-';
  if (value < 10) return `${value.toFixed(1)}ms`;
  if (value < 10_000) return `${Math.round(value)}ms`;
  return `${(value / 1000).toFixed(1)}s`;
}

export function methods(route: RouteInfo): string {
  return route.methods.join(',');
}

/** The first route, and how many more: `GET /hello/:name +2`. */
export function routesSummary(routes: RouteInfo[]): string {
  const first = routes[0];
  if (!first) return '-';
  const more = routes.length > 1 ? ` +${routes.length - 1}` : '';
  return `${methods(first)} ${first.path}${more}`;
}

/** Cuts `text` to `width` columns, ending in `…` when cut. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text.padEnd(width);
  return `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** The `:param` and `*rest` names of a route path, in order. */
export function pathParams(path: string): string[] {
  return path
    .split('/')
    .filter((segment) => segment.startsWith(':') || segment.startsWith('*'))
    .map((segment) => segment.slice(1));
}

/** The path with its params filled in (each value URL-encoded, except `*rest` keeps its slashes). */
export function fillPath(path: string, values: Record<string, string>): string {
  return path
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return encodeURIComponent(values[segment.slice(1)] ?? '');
      if (segment.startsWith('*')) return (values[segment.slice(1)] ?? '').split('/').map(encodeURIComponent).join('/');
      return segment;
    })
    .join('/');
}

/** Pretty-prints a JSON text; any other text comes back as is. */
export function prettyBody(text: string): string {
  if (text === '') return '(empty body)';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** `12.5/s`, `0.02/s`, `-` when idle. */
export function rate(perSecond: number): string {
  if (perSecond === 0) return '-';
  return `${perSecond >= 10 ? Math.round(perSecond) : perSecond.toFixed(perSecond >= 1 ? 1 : 2)}/s`;
}

/** `0%`, `2.5%`, `-` without requests. */
export function percent(ratio: number | null): string {
  if (ratio === null) return '-';
  const value = ratio * 100;
  return `${value === 0 || value >= 10 ? Math.round(value) : value.toFixed(1)}%`;
}
