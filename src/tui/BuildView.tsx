import { Box, Text } from 'ink';
import { useEffect, useState } from 'react';
import { LogTail } from './LogTail.js';
import { ProgressBar } from './ProgressBar.js';
import { colour, statusColour } from './theme.js';
import type { BuildState } from './use-build.js';

export interface BuildViewProps {
  app: string;
  buildId: number;
  build: BuildState;
  /** The build that served before this one, if any: it keeps serving when this one fails. */
  previousBuild: number | null;
  width: number;
  height: number;
  /** Lines scrolled up from the end of the output. */
  scroll: number;
}

/** A build as it happens: status, cargo's progress bar, a scrolling log; the compiler's errors on failure. */
export function BuildView({ app, buildId, build, previousBuild, width, height, scroll }: BuildViewProps) {
  const now = useNow(build.startedAt !== undefined && build.endedAt === undefined);
  const failed = build.status === 'failed';
  const output = failed && build.error ? build.error.split('\n') : build.lines;
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      <Text wrap="truncate-end">
        Build <Text bold>#{buildId}</Text> of <Text bold>{app}</Text>:{' '}
        <Text bold color={statusColour(build.status)}>
          {build.status}
        </Text>
      </Text>
      <Box>
        {build.progress ? <ProgressBar done={build.status === 'succeeded' ? build.progress.total : build.progress.done} total={build.progress.total} width={Math.min(width, 60)} /> : <Text dimColor>waiting for cargo…</Text>}
        <Text dimColor>{buildClock(build, now)}</Text>
      </Box>
      {build.status === 'succeeded' ? (
        <Text bold color={colour('green')} wrap="truncate-end">{`✓ ${app} is serving build #${buildId}.`}</Text>
      ) : failed ? (
        <Text bold color={colour('red')} wrap="truncate-end">
          {`✗ Build #${buildId} failed. ${previousBuild === null ? `${app} has no working version yet.` : `${app} keeps serving build #${previousBuild}.`}`}
        </Text>
      ) : build.streamError ? (
        <Text color={colour('red')} wrap="truncate-end">{`lost the build's stream: ${build.streamError}`}</Text>
      ) : (
        <Text> </Text>
      )}
      <Text dimColor>{failed ? 'Compiler errors:' : 'Output:'}</Text>
      <LogTail lines={output} height={height - 4} scroll={scroll} compiler />
    </Box>
  );
}

/** `  2 compiled · 14 s`: the crates this build compiled (the bar counts prebuilt ones as done) and the time spent. */
export function buildClock(build: Pick<BuildState, 'progress' | 'startedAt' | 'endedAt'>, now: number): string {
  if (build.startedAt === undefined) return '';
  const seconds = Math.max(0, Math.round(((build.endedAt ?? now) - build.startedAt) / 1000));
  const compiled = build.progress ? `${build.progress.compiled} compiled · ` : '';
  return `  ${compiled}${seconds} s`;
}

/** The time, again every second while `ticking`. */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!ticking) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}
