import { Box, Text } from 'ink';

export interface HelpLineProps {
  /** Pairs of key and what it does, shown in order: `[['↑↓', 'select'], ['q', 'quit']]`. */
  keys: Array<[string, string]>;
}

/** The last line of every screen: the keys that work here. */
export function HelpLine({ keys }: HelpLineProps) {
  return (
    <Box flexShrink={0}>
      <Text wrap="truncate-end">
        {keys.map(([key, action], index) => (
          <Text key={key}>
            {index > 0 ? '  ' : ''}
            <Text bold inverse>
              {` ${key} `}
            </Text>
            <Text>{` ${action}`}</Text>
          </Text>
        ))}
      </Text>
    </Box>
  );
}
