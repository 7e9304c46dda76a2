import { Box, Text } from 'ink';
import { ms, prettyBody } from './format.js';
import type { InvokeResult } from './invoke.js';
import { colour } from './theme.js';

export interface ResponseViewProps {
  result: InvokeResult;
  height: number;
}

/** Status, time and the body (JSON pretty-printed) of a test request. */
export function ResponseView({ result, height }: ResponseViewProps) {
  const ok = result.status < 400;
  const lines = prettyBody(result.body).split('\n');
  const room = Math.max(1, height - 1);
  const shown = lines.length > room ? [...lines.slice(0, room - 1), `… ${lines.length - room + 1} more lines`] : lines;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold color={ok ? colour('green') : colour('red')}>
          {`HTTP ${result.status}`}
        </Text>
        <Text dimColor>{`  ${ms(result.timeMs)}  ${result.contentType ?? 'no content-type'}`}</Text>
      </Text>
      {shown.map((line, index) => (
        <Text key={index} wrap="truncate-end">
          {line === '' ? ' ' : line}
        </Text>
      ))}
    </Box>
  );
}
