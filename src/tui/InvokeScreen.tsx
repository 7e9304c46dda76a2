import { useMemo, useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { useKeys } from './use-keys.js';
import { fillPath, pathParams } from './format.js';
import { Frame, useBodyRows } from './Frame.js';
import { invoke, invokableMethods, type InvokeResult } from './invoke.js';
import { ResponseView } from './ResponseView.js';
import { RoutePicker, type RouteChoice } from './RoutePicker.js';
import { TextInput } from './TextInput.js';
import { colour } from './theme.js';
import { useTui } from './tui-context.js';
import { usePoll } from './use-poll.js';

export interface InvokeScreenProps {
  app: string;
}

const BODY_FIELD = '(JSON body)';

/** Pick a route, fill its params and a JSON body, send it through the public listener. */
export function InvokeScreen({ app }: InvokeScreenProps) {
  const { client, publicUrl, back, quit } = useTui();
  const rows = useBodyRows();
  const detail = usePoll(() => client.app(app), 5000, [app]);
  const choices = useMemo<RouteChoice[]>(
    () => (detail.data?.routes ?? []).flatMap((route) => invokableMethods(route.methods).map((method) => ({ method, path: route.path, function: route.function }))),
    [detail.data],
  );
  const [selected, setSelected] = useState(0);
  const [route, setRoute] = useState<RouteChoice>();
  const [values, setValues] = useState<Record<string, string>>({});
  // Enter can come right behind the last character typed, before a re-render: send what was typed.
  const typed = useRef(values);
  const setValue = (name: string, value: string): void => {
    typed.current = { ...typed.current, [name]: value };
    setValues(typed.current);
  };
  const [field, setField] = useState(0);
  const [result, setResult] = useState<InvokeResult>();
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string>();

  const fields = route ? [...pathParams(route.path), ...(route.method === 'GET' || route.method === 'HEAD' ? [] : [BODY_FIELD])] : [];

  const send = async (): Promise<void> => {
    if (!route) return;
    if (!publicUrl) return setError('The gateway has no TCP public listener to send requests to.');
    const current = typed.current;
    const body = current[BODY_FIELD] ?? '';
    if (body.trim() !== '') {
      try {
        JSON.parse(body);
      } catch (caught) {
        return setError(`The body is not valid JSON: ${(caught as Error).message}`);
      }
    }
    setSending(true);
    setError(undefined);
    try {
      setResult(await invoke({ publicUrl, method: route.method, path: fillPath(route.path, current), body }));
    } catch (caught) {
      setError(`request failed: ${(caught as Error).message}`);
    } finally {
      setSending(false);
    }
  };

  // Picking a route: arrows and Enter. Filling the form: the text inputs take the keys.
  useKeys((input, key) => {
    if (route) {
      if (key.escape) {
        setRoute(undefined);
        setResult(undefined);
        setError(undefined);
      } else if (key.upArrow) setField((f) => Math.max(0, f - 1));
      else if (key.downArrow) setField((f) => Math.min(Math.max(0, fields.length - 1), f + 1));
      else if (fields.length === 0 && key.return) void send();
      return;
    }
    if (key.upArrow || input === 'k') setSelected((s) => Math.max(0, s - 1));
    else if (key.downArrow || input === 'j') setSelected((s) => Math.min(Math.max(0, choices.length - 1), s + 1));
    else if (key.escape) back();
    else if (input === 'q') quit();
    else if (key.return && choices[selected]) {
      setRoute(choices[selected]);
      setField(0);
      setResult(undefined);
    }
  });

  const keys: Array<[string, string]> = route ? [['enter', 'send'], ['tab/↑↓', 'field'], ['esc', 'routes']] : [['↑↓', 'route'], ['enter', 'choose'], ['esc', 'back'], ['q', 'quit']];
  return (
    <Frame title={`invoke ${app}`} note={publicUrl ?? 'no public URL'} error={detail.error?.message} keys={keys}>
      {!route && detail.data === undefined ? (
        <Text dimColor>Loading routes…</Text>
      ) : !route ? (
        <Box flexDirection="column">
          <Text bold>Choose a route:</Text>
          <RoutePicker choices={choices} selected={Math.min(selected, Math.max(0, choices.length - 1))} height={rows - 1} />
        </Box>
      ) : (
        <Box flexDirection="column">
          <Text wrap="truncate-end">
            <Text bold color={colour('cyan')}>
              {route.method}
            </Text>{' '}
            {publicUrl ?? ''}
            {fillPath(route.path, values)}
          </Text>
          {fields.map((name, index) => (
            <Box key={name}>
              <Text bold={index === field}>{`${name === BODY_FIELD ? name : `:${name}`} `.padStart(14)}</Text>
              <TextInput
                value={values[name] ?? ''}
                onChange={(value) => setValue(name, value)}
                onSubmit={() => void send()}
                onTab={() => setField((f) => (f + 1) % fields.length)}
                focus={index === field}
                placeholder={name === BODY_FIELD ? '{"key": "value"}' : ''}
              />
            </Box>
          ))}
          {sending ? <Text color={colour('yellow')}>Sending…</Text> : null}
          {error ? <Text color={colour('red')}>{error}</Text> : null}
          {result && !sending ? <ResponseView result={result} height={rows - fields.length - 2} /> : null}
        </Box>
      )}
    </Frame>
  );
}
