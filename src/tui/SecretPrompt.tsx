import { useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { useKeys } from './use-keys.js';
import { colour } from './theme.js';

export interface SecretPromptProps {
  /** The name to offer first: a declared secret that is not set yet, say. */
  suggestedName: string;
  onSubmit(name: string, value: string): void;
  onCancel(): void;
}

type Field = 'name' | 'value';

/**
 * Set a secret: its name, then its value in a masked field (never drawn on the screen). One key
 * handler for both fields, with the field in a ref: keys typed right after Enter belong to the
 * value even when they arrive before the screen shows the switch.
 */
export function SecretPrompt({ suggestedName, onSubmit, onCancel }: SecretPromptProps) {
  const [, redraw] = useState(0);
  const field = useRef<Field>(suggestedName ? 'value' : 'name');
  const text = useRef<Record<Field, string>>({ name: suggestedName, value: '' });
  const set = (next: Partial<Record<Field, string>>, focus?: Field): void => {
    Object.assign(text.current, next);
    if (focus) field.current = focus;
    redraw((n) => n + 1);
  };
  useKeys((input, key) => {
    const current = field.current;
    if (key.escape) return onCancel();
    if (key.return) return current === 'name' ? set({}, 'value') : onSubmit(text.current.name, text.current.value);
    if (key.tab) return set({}, current === 'name' ? 'value' : 'name');
    if (key.backspace || key.delete) return set({ [current]: text.current[current].slice(0, -1) });
    if (key.ctrl && input === 'u') return set({ [current]: '' });
    if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown) return;
    const printable = input.replace(/[\u0000-\u001f\u007f]/g, '');
    if (printable) set({ [current]: text.current[current] + (current === 'name' ? printable.toUpperCase() : printable) });
  });
  const cursor = (which: Field) => (field.current === which ? <Text inverse> </Text> : null);
  return (
    <Box flexDirection="column">
      <Text bold color={colour('yellow')}>
        Set a secret (Enter: next / set, Tab: switch field, Esc: cancel)
      </Text>
      <Text>
        {'name:  '}
        {text.current.name === '' && field.current !== 'name' ? <Text dimColor>DB_PASSWORD</Text> : text.current.name}
        {cursor('name')}
      </Text>
      <Text>
        {'value: '}
        {'•'.repeat(text.current.value.length)}
        {cursor('value')}
      </Text>
    </Box>
  );
}
