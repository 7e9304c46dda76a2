/** What every screen needs: the admin client, where the gateway is, and navigation. */
import { createContext, useContext } from 'react';
import type { AdminClient } from '../admin/admin-client.js';

export type Screen =
  | { name: 'dashboard' }
  | { name: 'deploy'; dir?: string }
  | { name: 'build'; app: string; buildId: number; previousBuild: number | null }
  | { name: 'app'; app: string }
  | { name: 'invoke'; app: string }
  | { name: 'logs'; app: string };

export interface TuiContextValue {
  client: AdminClient;
  hostLabel: string;
  /** Where the public HTTP listener answers, for invoke; null when the gateway has none. */
  publicUrl: string | null;
  /** Opens a screen on top of the current one. */
  open(screen: Screen): void;
  /** Replaces the current screen (deploy → its build). */
  replace(screen: Screen): void;
  /** Goes back to the screen below; quits from the dashboard. */
  back(): void;
  /** Replaces the whole stack with the dashboard. */
  home(): void;
  quit(): void;
}

export const TuiContext = createContext<TuiContextValue | null>(null);

export function useTui(): TuiContextValue {
  const value = useContext(TuiContext);
  if (!value) throw new Error('useTui() outside <App>');
  return value;
}
