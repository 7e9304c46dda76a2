import { Box, Text } from 'ink';
import type { RouteInfo } from '../api/types.js';
import { methods } from './format.js';
import { colour } from './theme.js';

export interface RouteListProps {
  routes: RouteInfo[];
  /** At most this many rows; the rest is counted. */
  max?: number;
}

/** `GET      /hello/:name  → Hello (30s)`, one route a row. */
export function RouteList({ routes, max = routes.length }: RouteListProps) {
  if (routes.length === 0) return <Text dimColor>no routes</Text>;
  const shown = routes.slice(0, Math.max(1, max));
  const width = Math.max(...shown.map((route) => methods(route).length));
  return (
    <Box flexDirection="column">
      {shown.map((route) => (
        <Text key={`${methods(route)} ${route.path}`} wrap="truncate-end">
          <Text color={colour('cyan')}>{methods(route).padEnd(width)}</Text> {route.path} <Text dimColor>→ {route.function} ({route.timeoutMs / 1000}s{route.fallback ? ', fallback' : ''})</Text>
        </Text>
      ))}
      {routes.length > shown.length ? <Text dimColor>{`… and ${routes.length - shown.length} more`}</Text> : null}
    </Box>
  );
}
