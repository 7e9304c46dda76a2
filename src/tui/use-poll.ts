/**
 * Calls `load` now and then every `intervalMs` after the previous call settled (never two at
 * once), until unmounted. Keeps the last good value when a call fails, and the error beside it.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Poll<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Loads again now (after an action, say). */
  refresh(): void;
}

export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []): Poll<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const kick = useRef<() => void>(() => {});

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let running = false;
    let again = false;
    const tick = async (): Promise<void> => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      clearTimeout(timer);
      try {
        const value = await load();
        if (!stopped) {
          setData(value);
          setError(undefined);
        }
      } catch (caught) {
        if (!stopped) setError(caught as Error);
      } finally {
        running = false;
        if (!stopped) {
          if (again) {
            again = false;
            void tick();
          } else timer = setTimeout(() => void tick(), intervalMs);
        }
      }
    };
    kick.current = () => void tick();
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);

  const refresh = useCallback(() => kick.current(), []);
  return { data, error, refresh };
}
