import { useState } from 'react';
import { Box, Text } from 'ink';
import { TextInput } from './TextInput.js';
import { useKeys } from './use-keys.js';
import { colour } from './theme.js';

export interface SecretPromptProps {
  /** The name to offer first: a declared secret that is not set yet, say. */
  suggestedName: string;
  onSubmit(name: string, value: string): void;
  onCancel(): void;
}

/** Set a secret: its name, then its value in a masked field (never drawn on the screen). */
export function SecretPrompt({ suggestedName, onSubmit, onCancel }: SecretPromptProps) {
  const [name, setName] = useState(suggestedName);
  const [value, setValue] = useState('');
  const [field, setField] = useState<'name' | 'value'>(suggestedName ? 'value' : 'name');
  useKeys((_input, key) => {
    if (key.escape) onCancel();
  });
  return (
    <Box flexDirection="column">
      <Text bold color={colour('yellow')}>
        Set a secret (Enter: next / set, Tab: switch field, Esc: cancel)
      </Text>
      <Text>
        {'name:  '}
        <TextInput value={name} onChange={(next) => setName(next.toUpperCase())} onSubmit={() => setField('value')} onTab={() => setField('value')} focus={field === 'name'} placeholder="DB_PASSWORD" />
      </Text>
      <Text>
        {'value: '}
        <TextInput value={value} onChange={setValue} onSubmit={(typed) => onSubmit(name, typed)} onTab={() => setField('name')} focus={field === 'value'} mask />
      </Text>
    </Box>
  );
}
