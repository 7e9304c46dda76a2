/**
 * Where an app's host-side state lives under the gateway's state directory, for every
 * backend alike: its data directory (`[storage] data = true`) and its stored secrets.
 */
import { join } from 'node:path';

/** Survives idle stops, restarts, redeploys and rollbacks; removed only when asked. */
export function dataDir(stateDir: string, app: string): string {
  return join(stateDir, 'data', app);
}

/** The gateway's own copy of every app's secrets (see src/secrets/secret-store.ts). */
export function secretsDir(stateDir: string): string {
  return join(stateDir, 'secrets');
}
