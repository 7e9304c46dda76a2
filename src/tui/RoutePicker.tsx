import { Box, Text } from 'ink';
import { colour } from './theme.js';

export interface RouteChoice {
  method: string;
  path: string;
  function: string;
}

export interface RoutePickerProps {
  choices: RouteChoice[];
  selected: number;
  height: number;
}

/** One line per method and path; the selected one in inverse. */
export function RoutePicker({ choices, selected, height }: RoutePickerProps) {
  if (choices.length === 0) return <Text dimColor>This app has no routes (is a build serving?).</Text>;
  const rows = Math.max(1, height);
  const start = Math.min(Math.max(0, selected - rows + 1), Math.max(0, choices.length - rows));
  return (
    <Box flexDirection="column">
      {choices.slice(start, start + rows).map((choice, index) => (
        <Text key={`${choice.method} ${choice.path}`} inverse={start + index === selected} wrap="truncate-end">
          <Text color={start + index === selected ? undefined : colour('cyan')}>{choice.method.padEnd(7)}</Text> {choice.path} <Text dimColor>→ {choice.function}</Text>
        </Text>
      ))}
    </Box>
  );
}
