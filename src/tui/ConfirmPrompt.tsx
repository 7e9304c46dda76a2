import { Text } from 'ink';
import { useKeys } from './use-keys.js';
import { colour } from './theme.js';

export interface ConfirmPromptProps {
  question: string;
  onAnswer(yes: boolean): void;
}

/** `Delete hello? y/N`: only `y` says yes; anything else says no. */
export function ConfirmPrompt({ question, onAnswer }: ConfirmPromptProps) {
  useKeys((input) => onAnswer(input === 'y' || input === 'Y'));
  return (
    <Text bold color={colour('yellow')} wrap="truncate-end">
      {`${question} y/N`}
    </Text>
  );
}
