import { useState } from 'react';
import { Box, Text } from 'ink';
import { useKeys } from './use-keys.js';
import { BuildList } from './BuildList.js';
import type { DataChoice } from '../api/types.js';
import { ConfirmPrompt } from './ConfirmPrompt.js';
import { memoryNote } from '../api/memory-note.js';
import { runtimeNote } from '../api/runtime-note.js';
import { DataPrompt } from './DataPrompt.js';
import { ago, ms, percent, rate } from './format.js';
import { Frame, useBodyRows } from './Frame.js';
import { LogTail } from './LogTail.js';
import { RouteList } from './RouteList.js';
import { SecretPrompt } from './SecretPrompt.js';
import { colour, statusColour } from './theme.js';
import { useTui } from './tui-context.js';
import { usePoll } from './use-poll.js';

export interface AppPageProps {
  app: string;
}

type Pending = { kind: 'delete' } | { kind: 'delete-data'; dir: string } | { kind: 'rollback'; build: number } | { kind: 'secret' } | null;

/** One app: runtime state, routes, builds (with rollback), secrets, recent logs; stop and delete. */
export function AppPage({ app }: AppPageProps) {
  const { client, open, back, home, quit } = useTui();
  const rows = useBodyRows();
  const detail = usePoll(() => client.app(app), 1000, [app]);
  const logs = usePoll(() => collect(client.logs(app, { lines: 5 })), 2000, [app]);
  const [selected, setSelected] = useState(0);
  const [pending, setPending] = useState<Pending>(null);
  const [message, setMessage] = useState<{ text: string; error?: boolean }>();
  const builds = detail.data?.builds ?? [];
  const index = Math.min(selected, Math.max(0, builds.length - 1));

  const act = async (text: string, action: () => Promise<unknown>, done: string): Promise<void> => {
    setMessage({ text });
    try {
      await action();
      setMessage({ text: done });
    } catch (error) {
      setMessage({ text: (error as Error).message, error: true });
    }
    detail.refresh();
  };

  useKeys(
    (input, key) => {
      if (key.upArrow || input === 'k') setSelected(Math.max(0, index - 1));
      else if (key.downArrow || input === 'j') setSelected(Math.min(Math.max(0, builds.length - 1), index + 1));
      else if (key.escape) back();
      else if (input === 'q') quit();
      else if (input === 'i') open({ name: 'invoke', app });
      else if (input === 'l') open({ name: 'logs', app });
      else if (input === 'd') open({ name: 'deploy' });
      else if (input === 's') void act(`Stopping ${app}…`, () => client.stopApp(app), `Stopped ${app}; the next request starts it again.`);
      else if (input === 'x') setPending(detail.data?.dataDir ? { kind: 'delete-data', dir: detail.data.dataDir } : { kind: 'delete' });
      else if (input === 'e') setPending({ kind: 'secret' });
      else if (input === 'r') {
        const build = builds[index];
        if (!build) return;
        if (build.status !== 'succeeded') setMessage({ text: `Build #${build.id} ${build.status}: only a successful build can serve.`, error: true });
        else if (build.id === detail.data?.currentBuild) setMessage({ text: `Build #${build.id} is already serving.` });
        else setPending({ kind: 'rollback', build: build.id });
      }
    },
    { isActive: pending === null },
  );

  const remove = (data?: DataChoice): void => {
    void (async () => {
      setMessage({ text: `Deleting ${app}…` });
      try {
        await client.deleteApp(app, data);
        home();
      } catch (error) {
        setMessage({ text: (error as Error).message, error: true });
      }
    })();
  };

  const answer = (yes: boolean): void => {
    const what = pending;
    setPending(null);
    if (!yes || !what) return setMessage({ text: 'Cancelled.' });
    if (what.kind === 'rollback') void act(`Switching ${app} to build #${what.build}…`, () => client.rollback(app, what.build), `${app} now serves build #${what.build}.`);
    else remove();
  };

  const setSecret = (name: string, value: string): void => {
    setPending(null);
    void act(`Setting secret ${name}…`, () => client.setSecret(app, name, Buffer.from(value, 'utf8')), `Set secret ${name}; ${app}'s runner restarts to see it.`);
  };

  const data = detail.data;
  const keys: Array<[string, string]> = [['↑↓', 'build'], ['r', 'rollback'], ['i', 'invoke'], ['l', 'logs'], ['s', 'stop'], ['e', 'secret'], ['x', 'delete'], ['esc', 'back']];
  const unset = data?.secrets.find((s) => s.declared && !s.set)?.name ?? '';
  const routeRows = Math.min(data?.routes.length ?? 1, Math.max(1, Math.floor((rows - 10) / 2)));
  const note = data ? runtimeNote(data.runtime) : undefined;
  const unlimited = data ? memoryNote(data.memory) : undefined;
  const buildRows = Math.max(1, rows - routeRows - 13 - (note ? 1 : 0));
  return (
    <Frame title={app} note={data ? `build #${data.currentBuild ?? '-'}` : 'loading…'} error={detail.error?.message} keys={keys}>
      {data ? (
        <Box flexDirection="column">
          <Text wrap="truncate-end">
            <Text bold color={statusColour(data.status)}>
              {data.status}
            </Text>
            {`  runtime: `}
            <Text color={statusColour(data.runtime.state)}>{data.runtime.state}</Text>
            {data.runtime.detail ? <Text dimColor>{` (${data.runtime.detail})`}</Text> : null}
            {data.runtime.pid && !data.runtime.detail?.includes(String(data.runtime.pid)) ? <Text dimColor>{` pid ${data.runtime.pid}`}</Text> : null}
          </Text>
          {note ? (
            <Text wrap="truncate-end" color={data.runtime.backoff ? 'red' : 'yellow'}>
              {note}
            </Text>
          ) : null}
          <Text wrap="truncate-end" dimColor>
            {`rate ${rate(data.stats.requestsPerS)}  5xx ${percent(data.stats.errorRatio)}  requests ${data.stats.requests}  errors ${data.stats.errors}  p50 ${ms(data.stats.latencyMsP50)}  p95 ${ms(data.stats.latencyMsP95)}  cold starts ${data.stats.coldStarts}  thaws ${data.stats.thaws}  in flight ${data.inflight}  last use ${ago(data.stats.lastUsedAt)}  idle stop ${data.idleTimeoutS}s`}
          </Text>
          {unlimited ? (
            <Text wrap="truncate-end" color={colour('yellow')}>
              {unlimited}
            </Text>
          ) : (
            <Text wrap="truncate-end" dimColor>{`memory limit ${data.memory.limit ?? '-'}`}</Text>
          )}
          {data.secrets.length > 0 || data.dataDir ? (
            <Text wrap="truncate-end">
              {data.secrets.length > 0 ? 'secrets ' : ''}
              {data.secrets.map((s, i) => (
                <Text key={s.name} color={s.set ? undefined : colour('red')}>{`${i > 0 ? ', ' : ''}${s.name}${s.set ? '' : ' (NOT SET)'}`}</Text>
              ))}
              {data.dataDir ? <Text dimColor>{`${data.secrets.length > 0 ? '  ' : ''}data ${data.dataDir}`}</Text> : null}
            </Text>
          ) : null}
          <Text bold>Routes</Text>
          <RouteList routes={data.routes} max={routeRows} />
          <Text bold>Builds</Text>
          <BuildList builds={data.builds} current={data.currentBuild} selected={index} height={buildRows} />
          <Text bold>Recent logs</Text>
          {logs.data && logs.data.length > 0 ? <LogTail lines={logs.data} height={Math.min(5, logs.data.length)} /> : <Text dimColor>{logs.error ? logs.error.message : 'no log lines yet'}</Text>}
        </Box>
      ) : (
        <Text dimColor>{detail.error ? '' : 'Loading…'}</Text>
      )}
      <Box flexGrow={1} />
      {pending?.kind === 'secret' ? (
        <SecretPrompt suggestedName={unset} onSubmit={setSecret} onCancel={() => (setPending(null), setMessage({ text: 'Cancelled.' }))} />
      ) : pending?.kind === 'delete-data' ? (
        <DataPrompt
          question={`Delete ${app}? Its data (${pending.dir}):`}
          onAnswer={(choice) => (setPending(null), choice ? remove(choice) : setMessage({ text: 'Cancelled.' }))}
        />
      ) : pending ? (
        <ConfirmPrompt
          question={pending.kind === 'delete' ? `Delete ${app}, its routes, builds and logs?` : `Roll ${app} back to build #${pending.build}?`}
          onAnswer={answer}
        />
      ) : message ? (
        <Text color={message.error ? colour('red') : colour('green')} wrap="truncate-end">
          {message.text}
        </Text>
      ) : null}
    </Frame>
  );
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}
