import { Box, Text } from 'ink';
import { memoryCell } from '../api/memory-note.js';
import type { AppSummary } from '../api/types.js';
import { ago, fit, ms, percent, rate, routesSummary } from './format.js';
import { statusColour } from './theme.js';

export interface AppTableProps {
  apps: AppSummary[];
  selected: number;
  width: number;
  /** Rows available for the header and the apps. */
  height: number;
}

const FIXED = { name: 14, status: 8, version: 5, memory: 5, rate: 6, errors: 4, p50: 7, cold: 4, last: 8 };

/** The dashboard's table: one app per row, the selected row in inverse. */
export function AppTable({ apps, selected, width, height }: AppTableProps) {
  const fixed = Object.values(FIXED).reduce((a, b) => a + b, 0) + 9;
  const routesWidth = Math.max(10, width - fixed);
  const visible = Math.max(1, height - 1);
  // Keeps the selected row on screen when there are more apps than rows.
  const start = Math.min(Math.max(0, selected - visible + 1), Math.max(0, apps.length - visible));
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {row(['NAME', 'STATUS', 'BUILD', 'MEM', 'ROUTES', 'REQ/S', 'ERR', 'P50', 'COLD', 'LAST USE'], routesWidth)}
      </Text>
      {apps.slice(start, start + visible).map((app, index) => {
        const isSelected = start + index === selected;
        const cells = [
          app.name,
          app.status,
          app.currentBuild === null ? '-' : `#${app.currentBuild}`,
          memoryCell(app.memory),
          routesSummary(app.routes),
          rate(app.stats.requestsPerS),
          percent(app.stats.errorRatio),
          ms(app.stats.latencyMsP50),
          String(app.stats.coldStarts),
          ago(app.stats.lastUsedAt),
        ];
        return (
          <Text key={app.name} inverse={isSelected} wrap="truncate-end">
            {fit(`${isSelected ? '›' : ' '}${cells[0]}`, FIXED.name)}{' '}
            <Text color={isSelected ? undefined : statusColour(app.status)}>{fit(cells[1]!, FIXED.status)}</Text>
            {' '}
            {row(cells.slice(2), routesWidth, 2)}
          </Text>
        );
      })}
    </Box>
  );
}

/** Lays out cells from column `from` on, each cut to its width. */
function row(cells: string[], routesWidth: number, from = 0): string {
  const widths = [FIXED.name, FIXED.status, FIXED.version, FIXED.memory, routesWidth, FIXED.rate, FIXED.errors, FIXED.p50, FIXED.cold, FIXED.last].slice(from);
  return cells.map((cell, index) => fit(cell, widths[index]!)).join(' ');
}
