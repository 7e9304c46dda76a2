import { useRef } from 'react';
import { Text } from 'ink';
import { useKeys } from './use-keys.js';

export interface TextInputProps {
  value: string;
  onChange(value: string): void;
  onSubmit?(value: string): void;
  /** Tab: path completion, next field, ... */
  onTab?(): void;
  /** Only the focused input takes keys and shows a cursor. */
  focus: boolean;
  placeholder?: string;
}

/** A one-line text field: type, Backspace, Ctrl-U clears, Enter submits. */
export function TextInput({ value, onChange, onSubmit, onTab, focus, placeholder }: TextInputProps) {
  // Keys can arrive faster than React re-renders: edit the latest text, not the last rendered one.
  const latest = useRef(value);
  latest.current = value;
  const change = (next: string): void => {
    latest.current = next;
    onChange(next);
  };
  useKeys(
    (input, key) => {
      if (key.return) return onSubmit?.(latest.current);
      if (key.tab) return onTab?.();
      if (key.backspace || key.delete) return change(latest.current.slice(0, -1));
      if (key.ctrl && input === 'u') return change('');
      if (key.ctrl || key.meta || key.escape || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown) return;
      // Pasted text arrives as one chunk; keep its printable characters.
      const printable = input.replace(/[\u0000-\u001f\u007f]/g, '');
      if (printable) change(latest.current + printable);
    },
    { isActive: focus },
  );
  if (value === '' && placeholder && !focus) return <Text dimColor>{placeholder}</Text>;
  return (
    <Text>
      {value === '' && placeholder ? <Text dimColor>{focus ? '' : placeholder}</Text> : value}
      {focus ? <Text inverse> </Text> : null}
    </Text>
  );
}
