import { Text } from 'ink';
import type { DataChoice } from '../api/types.js';
import { useKeys } from './use-keys.js';
import { colour } from './theme.js';

export interface DataPromptProps {
  question: string;
  /** `undefined`: cancelled. */
  onAnswer(choice: DataChoice | undefined): void;
}

/** `k keep / d delete / other key: cancel. Delete todo? Its data (…):`: data goes only when asked. The keys come first: a long path is cut at the edge of the screen. */
export function DataPrompt({ question, onAnswer }: DataPromptProps) {
  useKeys((input) => onAnswer(input === 'k' ? 'keep' : input === 'd' ? 'delete' : undefined));
  return (
    <Text bold color={colour('yellow')} wrap="truncate-end">
      {`k keep / d delete / other key: cancel. ${question}`}
    </Text>
  );
}
