import type { ReactNode } from 'react';
import { Box } from 'ink';
import { Header } from './Header.js';
import { HelpLine, type HelpLineProps } from './HelpLine.js';
import { useTui } from './tui-context.js';
import { useTerminalSize } from './use-terminal-size.js';

export interface FrameProps {
  title: string;
  note?: string;
  error?: string | undefined;
  keys: HelpLineProps['keys'];
  children: ReactNode;
}

/**
 * One screen: header, body, help line, sized to the terminal. One row short of its height,
 * so Ink redraws in place rather than clearing the whole terminal on every frame.
 */
export function Frame({ title, note, error, keys, children }: FrameProps) {
  const { hostLabel } = useTui();
  const { columns, rows } = useTerminalSize();
  return (
    <Box flexDirection="column" width={columns} height={Math.max(3, rows - 1)}>
      <Header title={title} hostLabel={hostLabel} {...(note === undefined ? {} : { note })} error={error} />
      <Box flexDirection="column" flexGrow={1} overflow="hidden" marginTop={1}>
        {children}
      </Box>
      <HelpLine keys={keys} />
    </Box>
  );
}

/** Rows left for a screen's body once the header, its margin and the help line are drawn. */
export function useBodyRows(): number {
  const { rows } = useTerminalSize();
  return Math.max(1, rows - 1 - 3);
}
