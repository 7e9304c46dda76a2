import { Box, Text } from 'ink';
import type { BuildInfo } from '../api/types.js';
import { ago } from './format.js';
import { statusColour } from './theme.js';

export interface BuildListProps {
  builds: BuildInfo[];
  current: number | null;
  selected: number;
  /** Rows available. */
  height: number;
}

/** Builds, newest first; `*` marks the one serving, the selected one is in inverse. */
export function BuildList({ builds, current, selected, height }: BuildListProps) {
  if (builds.length === 0) return <Text dimColor>no builds</Text>;
  const rows = Math.max(1, height);
  const start = Math.min(Math.max(0, selected - rows + 1), Math.max(0, builds.length - rows));
  return (
    <Box flexDirection="column">
      {builds.slice(start, start + rows).map((build, index) => (
        <Text key={build.id} inverse={start + index === selected} wrap="truncate-end">
          {build.id === current ? '*' : ' '} {`#${build.id}`.padEnd(5)} <Text color={statusColour(build.status)}>{build.status.padEnd(10)}</Text>
          {` ${ago(build.createdAt).padEnd(9)}`}
          {build.error ? <Text dimColor>{` ${build.error.split('\n')[0]}`}</Text> : ''}
        </Text>
      ))}
    </Box>
  );
}
