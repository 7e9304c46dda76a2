/**
 * Keyboard input for screens. Ink's `useInput` subscribes in a passive effect, so keys typed
 * right after a screen appears (a fast typist, a paste, a test) would fall between the frame
 * and the subscription and be lost. Here the App holds the one stdin subscription for its whole
 * life, and screens register their handlers in a layout effect, in the same commit as their
 * first frame: no gap.
 */
import { createContext, useContext, useLayoutEffect, useRef } from 'react';
import { useInput, type Key } from 'ink';

export type KeyHandler = (input: string, key: Key) => void;

export interface KeyBus {
  handlers: Set<{ current: KeyHandler }>;
}

export const KeyBusContext = createContext<KeyBus | null>(null);

/**
 * Used once, by the App: forwards every key to the handlers registered now. Several keys that
 * arrive in one chunk (typed fast over SSH, or pasted) go one at a time, each after the render
 * the previous one caused: `Enter` then `w` must reach the form that `Enter` opened.
 */
export function useKeyBusRoot(bus: KeyBus): void {
  const queue = useRef<Array<[string, Key]>>([]);
  const dispatch = (input: string, key: Key): void => {
    for (const handler of [...bus.handlers]) handler.current(input, key);
  };
  const drain = (): void => {
    const next = queue.current.shift();
    if (!next) return;
    dispatch(...next);
    if (queue.current.length > 0) setImmediate(drain);
  };
  useInput((input, key) => {
    const keys = splitKeys(input, key);
    const idle = queue.current.length === 0;
    queue.current.push(...keys);
    if (idle) drain();
  });
}

/** A chunk of plain characters (no escape sequence) becomes one key per character. */
export function splitKeys(input: string, key: Key): Array<[string, Key]> {
  if (input.length <= 1 || input.includes('\u001b') || key.ctrl || key.meta) return [[input, key]];
  return [...input].map((char): [string, Key] => {
    const code = char.charCodeAt(0);
    const special = { return: char === '\r' || char === '\n', tab: char === '\t', delete: char === '\u007f', backspace: char === '\b' };
    // Ctrl-A .. Ctrl-Z arrive as 0x01 .. 0x1a: report them the way Ink does (ctrl, and the letter).
    if (code >= 1 && code <= 26 && !special.return && !special.tab && !special.backspace) {
      return [String.fromCharCode(code + 96), { ...key, ctrl: true }];
    }
    return [special.return ? '' : char, { ...key, ...special }];
  });
}

/** Like Ink's `useInput`, without the gap after mounting. */
export function useKeys(handler: KeyHandler, { isActive = true }: { isActive?: boolean } = {}): void {
  const bus = useContext(KeyBusContext);
  if (!bus) throw new Error('useKeys() outside <App>');
  const ref = useRef(handler);
  useLayoutEffect(() => {
    ref.current = handler;
  });
  useLayoutEffect(() => {
    if (!isActive) return;
    bus.handlers.add(ref);
    return () => {
      bus.handlers.delete(ref);
    };
  }, [bus, isActive]);
}
