import { useState } from 'react';
import { useKeys } from './use-keys.js';
import { BuildView } from './BuildView.js';
import { Frame, useBodyRows } from './Frame.js';
import { useTui } from './tui-context.js';
import { useBuild } from './use-build.js';
import { useTerminalSize } from './use-terminal-size.js';

export interface BuildScreenProps {
  app: string;
  buildId: number;
  /** The build serving before this one, if any. */
  previousBuild: number | null;
}

/** Watches one build to its end; the output scrolls with ↑↓ and PgUp/PgDn. */
export function BuildScreen({ app, buildId, previousBuild }: BuildScreenProps) {
  const { client, replace, home, quit } = useTui();
  const build = useBuild(client, buildId);
  const { columns } = useTerminalSize();
  const rows = useBodyRows();
  const [scroll, setScroll] = useState(0);
  const finished = build.status === 'succeeded' || build.status === 'failed';
  const lineCount = build.status === 'failed' && build.error ? build.error.split('\n').length : build.lines.length;
  const page = Math.max(1, rows - 5);

  useKeys((input, key) => {
    if (key.upArrow) setScroll((s) => Math.min(Math.max(0, lineCount - page), s + 1));
    else if (key.downArrow) setScroll((s) => Math.max(0, s - 1));
    else if (key.pageUp) setScroll((s) => Math.min(Math.max(0, lineCount - page), s + page));
    else if (key.pageDown) setScroll((s) => Math.max(0, s - page));
    else if (key.escape) home();
    else if (input === 'q') quit();
    else if (finished && key.return) replace({ name: 'app', app });
    else if (build.status === 'succeeded' && input === 'i') replace({ name: 'invoke', app });
  });

  const keys: Array<[string, string]> = [['↑↓', 'scroll'], ...(finished ? ([['enter', 'app page']] as Array<[string, string]>) : []), ...(build.status === 'succeeded' ? ([['i', 'invoke']] as Array<[string, string]>) : []), ['esc', 'dashboard'], ['q', 'quit']];
  return (
    <Frame title={`build #${buildId}`} note={app} keys={keys}>
      <BuildView app={app} buildId={buildId} build={build} previousBuild={previousBuild} width={columns} height={rows} scroll={scroll} />
    </Frame>
  );
}
