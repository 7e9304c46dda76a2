import { Box, Text } from 'ink';
import { colour } from './theme.js';

export interface HeaderProps {
  title: string;
  hostLabel: string;
  /** Right-hand note, e.g. `3 apps` or an error. */
  note?: string;
  error?: string | undefined;
}

/** The first line of every screen: where you are and which gateway you talk to. */
export function Header({ title, hostLabel, note, error }: HeaderProps) {
  return (
    <Box flexShrink={0} justifyContent="space-between">
      {/* The host label gives way first: the note (an error, the public URL) matters more. */}
      <Text wrap="truncate-middle">
        <Text bold color={colour('magenta')}>
          rustless
        </Text>
        <Text> › </Text>
        <Text bold>{title}</Text>
        <Text dimColor>{`  ${hostLabel}`}</Text>
      </Text>
      {error ? (
        <Box flexShrink={0}>
          <Text color={colour('red')} wrap="truncate-end">
            {` ${error}`}
          </Text>
        </Box>
      ) : note ? (
        <Box flexShrink={0}>
          <Text dimColor>{` ${note}`}</Text>
        </Box>
      ) : null}
    </Box>
  );
}
