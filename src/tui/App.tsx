import { useCallback, useMemo, useRef, useState } from 'react';
import { useApp } from 'ink';
import type { AdminClient } from '../admin/admin-client.js';
import { AppPage } from './AppPage.js';
import { BuildScreen } from './BuildScreen.js';
import { Dashboard } from './Dashboard.js';
import { DeployScreen } from './DeployScreen.js';
import { InvokeScreen } from './InvokeScreen.js';
import { LogsScreen } from './LogsScreen.js';
import { TuiContext, type Screen, type TuiContextValue } from './tui-context.js';
import { KeyBusContext, useKeyBusRoot, type KeyBus } from './use-keys.js';

export interface AppProps {
  client: AdminClient;
  hostLabel: string;
  publicUrl: string | null;
  /** The first screen (the dashboard unless told). */
  initial?: Screen;
}

/** The TUI: a stack of screens, the dashboard at the bottom. */
export function App({ client, hostLabel, publicUrl, initial }: AppProps) {
  const { exit } = useApp();
  const bus = useRef<KeyBus>({ handlers: new Set() }).current;
  useKeyBusRoot(bus);
  const [stack, setStack] = useState<Screen[]>(() => [{ name: 'dashboard' }, ...(initial && initial.name !== 'dashboard' ? [initial] : [])]);
  const quit = useCallback(() => exit(), [exit]);
  const context = useMemo<TuiContextValue>(
    () => ({
      client,
      hostLabel,
      publicUrl,
      open: (screen) => setStack((s) => [...s, screen]),
      replace: (screen) => setStack((s) => [...s.slice(0, -1), screen]),
      back: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
      home: () => setStack([{ name: 'dashboard' }]),
      quit,
    }),
    [client, hostLabel, publicUrl, quit],
  );
  const screen = stack[stack.length - 1]!;
  // Each screen is keyed by its place in the stack, so going back gives a fresh one.
  const key = `${stack.length}:${screen.name}`;
  return (
    <KeyBusContext.Provider value={bus}>
      <TuiContext.Provider value={context}>{render(screen, key)}</TuiContext.Provider>
    </KeyBusContext.Provider>
  );
}

function render(screen: Screen, key: string) {
  switch (screen.name) {
    case 'dashboard':
      return <Dashboard key={key} />;
    case 'deploy':
      return <DeployScreen key={key} initialDir={screen.dir} />;
    case 'build':
      return <BuildScreen key={key} app={screen.app} buildId={screen.buildId} previousBuild={screen.previousBuild} />;
    case 'app':
      return <AppPage key={key} app={screen.app} />;
    case 'invoke':
      return <InvokeScreen key={key} app={screen.app} />;
    case 'logs':
      return <LogsScreen key={key} app={screen.app} />;
  }
}
