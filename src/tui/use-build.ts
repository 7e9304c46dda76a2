/** Follows one build's event stream: status, cargo's progress, output lines, and the outcome. */
import { useEffect, useState } from 'react';
import type { AdminClient } from '../admin/admin-client.js';

/** Output lines kept; older ones scroll away. */
const MAX_LINES = 2000;

export interface BuildState {
  status: 'queued' | 'building' | 'succeeded' | 'failed';
  /** cargo's bar (prebuilt and fresh units count as done) and the crates this build compiled. */
  progress: { done: number; total: number; compiled: number } | undefined;
  /** When this screen saw the build start compiling, and end (ms since the epoch): the time spent. */
  startedAt: number | undefined;
  endedAt: number | undefined;
  lines: string[];
  /** The compiler's errors, when the build failed. */
  error: string | undefined;
  /** The stream itself broke (gateway gone, say). */
  streamError: string | undefined;
}

export function useBuild(client: AdminClient, buildId: number): BuildState {
  const [state, setState] = useState<BuildState>({ status: 'queued', progress: undefined, startedAt: undefined, endedAt: undefined, lines: [], error: undefined, streamError: undefined });
  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      try {
        // Events come in bursts while cargo compiles; batch them into one render per tick.
        let pending: string[] = [];
        let flush: NodeJS.Immediate | undefined;
        const flushLines = (): void => {
          flush = undefined;
          const add = pending;
          pending = [];
          setState((s) => ({ ...s, lines: [...s.lines, ...add].slice(-MAX_LINES) }));
        };
        for await (const event of client.buildEvents(buildId, abort.signal)) {
          if (event.type === 'line') {
            pending.push(event.text);
            flush ??= setImmediate(flushLines);
          } else if (event.type === 'progress') setState((s) => ({ ...s, progress: { done: event.done, total: event.total, compiled: event.compiled ?? 0 } }));
          else if (event.type === 'status') setState((s) => ({ ...s, status: event.status, startedAt: event.status === 'building' ? Date.now() : s.startedAt }));
          else if (event.type === 'done') {
            if (flush) clearImmediate(flush);
            flushLines();
            setState((s) => ({ ...s, status: event.status, error: event.error, endedAt: Date.now() }));
          }
        }
      } catch (error) {
        if (!abort.signal.aborted) setState((s) => ({ ...s, streamError: (error as Error).message }));
      }
    })();
    return () => abort.abort();
  }, [client, buildId]);
  return state;
}
