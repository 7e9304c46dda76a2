import { Text } from 'ink';
import { colour } from './theme.js';

export interface ProgressBarProps {
  done: number;
  total: number;
  width: number;
}

/** `[██████░░░░░░] 12/40` — cargo's own count of crates compiled. */
export function ProgressBar({ done, total, width }: ProgressBarProps) {
  const label = ` ${done}/${total}`;
  const inner = Math.max(4, width - label.length - 2);
  const filled = total > 0 ? Math.min(inner, Math.round((done / total) * inner)) : 0;
  return (
    <Text>
      [<Text color={colour('green')}>{'█'.repeat(filled)}</Text>
      <Text dimColor>{'░'.repeat(inner - filled)}</Text>]{label}
    </Text>
  );
}
