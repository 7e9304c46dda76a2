import { useEffect, useState } from 'react';
import { Text } from 'ink';
import { useKeys } from './use-keys.js';
import { Frame, useBodyRows } from './Frame.js';
import { LogTail } from './LogTail.js';
import { useTui } from './tui-context.js';

export interface LogsScreenProps {
  app: string;
}

const KEEP = 5000;

/** Follows an app's log as it is written; ↑↓ scroll back, End follows again. */
export function LogsScreen({ app }: LogsScreenProps) {
  const { client, back, quit } = useTui();
  const rows = useBodyRows();
  const [lines, setLines] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const [ended, setEnded] = useState(false);
  const [scroll, setScroll] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      try {
        for await (const line of client.logs(app, { lines: 200, follow: true, signal: abort.signal })) {
          setLines((old) => (old.length >= KEEP ? [...old.slice(-KEEP + 1), line] : [...old, line]));
        }
        if (!abort.signal.aborted) setEnded(true);
      } catch (caught) {
        if (!abort.signal.aborted) setError((caught as Error).message);
      }
    })();
    return () => abort.abort();
  }, [client, app]);

  const page = Math.max(1, rows - 2);
  useKeys((input, key) => {
    if (key.upArrow) setScroll((s) => Math.min(Math.max(0, lines.length - page), s + 1));
    else if (key.downArrow) setScroll((s) => Math.max(0, s - 1));
    else if (key.pageUp) setScroll((s) => Math.min(Math.max(0, lines.length - page), s + page));
    else if (key.pageDown) setScroll((s) => Math.max(0, s - page));
    else if (input === 'G' || (key.ctrl && input === 'e')) setScroll(0);
    else if (key.escape) back();
    else if (input === 'q') quit();
  });

  const note = scroll > 0 ? `paused, ${scroll} lines up` : ended ? 'log ended' : 'following';
  return (
    <Frame title={`logs ${app}`} note={note} error={error} keys={[['↑↓', 'scroll'], ['PgUp/PgDn', 'page'], ['G', 'follow'], ['esc', 'back'], ['q', 'quit']]}>
      {lines.length === 0 ? <Text dimColor>No log lines yet; waiting…</Text> : <LogTail lines={lines} height={rows - 1} scroll={scroll} />}
    </Frame>
  );
}
