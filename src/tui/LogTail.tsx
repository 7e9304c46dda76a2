import { Box, Text } from 'ink';
import { colour, type Colour } from './theme.js';

export interface LogTailProps {
  lines: string[];
  /** Rows available; the newest lines that fit are shown. */
  height: number;
  /** Lines scrolled up from the bottom (0: follow the end). */
  scroll?: number;
  /** Colours compiler output: errors red, warnings yellow, locations cyan. */
  compiler?: boolean;
}

/** The last lines of a log or of a build's output, one row each. */
export function LogTail({ lines, height, scroll = 0, compiler = false }: LogTailProps) {
  const rows = Math.max(1, height);
  // Scrolling stops once the first line is at the top.
  const end = Math.max(0, lines.length - Math.min(scroll, Math.max(0, lines.length - rows)));
  const shown = lines.slice(Math.max(0, end - rows), end);
  return (
    <Box flexDirection="column" height={rows} overflow="hidden">
      {shown.map((line, index) => (
        <Text key={index} wrap="truncate-end" color={compiler ? lineColour(line) : undefined}>
          {line === '' ? ' ' : line}
        </Text>
      ))}
    </Box>
  );
}

function lineColour(line: string): Colour | undefined {
  if (/^error(\[E\d+\])?:/.test(line)) return colour('red');
  if (/^warning(\[\w+\])?:/.test(line)) return colour('yellow');
  if (/^\s*-->/.test(line)) return colour('cyan');
  if (/^\s*(Compiling|Finished|Checking)\b/.test(line)) return colour('green');
  return undefined;
}
