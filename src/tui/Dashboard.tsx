import { useState } from 'react';
import { Box, Text } from 'ink';
import { useKeys } from './use-keys.js';
import { AppTable } from './AppTable.js';
import { Frame, useBodyRows } from './Frame.js';
import { colour } from './theme.js';
import { useTui } from './tui-context.js';
import { usePoll } from './use-poll.js';
import { useTerminalSize } from './use-terminal-size.js';

// The dashboard takes everything from the TUI context.
export type DashboardProps = object;

export const DASHBOARD_POLL_MS = 1000;

/** The first screen: every app with its live status, refreshed every second. */
export function Dashboard(_props: DashboardProps = {}) {
  const { client, open, quit } = useTui();
  const { columns } = useTerminalSize();
  const rows = useBodyRows();
  const { data: apps, error, refresh } = usePoll(() => client.apps(), DASHBOARD_POLL_MS);
  const [selected, setSelected] = useState(0);
  const count = apps?.length ?? 0;
  const index = Math.min(selected, Math.max(0, count - 1));
  const current = apps?.[index];

  useKeys((input, key) => {
    if (key.upArrow || input === 'k') setSelected(Math.max(0, index - 1));
    else if (key.downArrow || input === 'j') setSelected(Math.min(Math.max(0, count - 1), index + 1));
    else if (input === 'q') quit();
    else if (input === 'd') open({ name: 'deploy' });
    else if (input === 'r') refresh();
    else if (current && key.return) open({ name: 'app', app: current.name });
    else if (current && input === 'i') open({ name: 'invoke', app: current.name });
    else if (current && input === 'l') open({ name: 'logs', app: current.name });
  });

  const keys: Array<[string, string]> = [['↑↓', 'select'], ['enter', 'open'], ['d', 'deploy'], ['i', 'invoke'], ['l', 'logs'], ['q', 'quit']];
  return (
    <Frame title="apps" note={apps ? `${count} app${count === 1 ? '' : 's'}` : 'loading…'} error={error ? `gateway unreachable: ${error.message}` : undefined} keys={keys}>
      {apps === undefined ? (
        <Text dimColor>{error ? 'Waiting for the gateway…' : 'Loading apps…'}</Text>
      ) : count === 0 ? (
        <Box flexDirection="column">
          <Text>No apps yet.</Text>
          <Text>
            Press <Text bold color={colour('cyan')}>d</Text> to deploy a crate directory (one with a rustless.toml).
          </Text>
        </Box>
      ) : (
        <AppTable apps={apps} selected={index} width={columns} height={rows} />
      )}
    </Frame>
  );
}
