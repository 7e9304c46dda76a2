/**
 * What the systemd backend hands a function's container besides its image: the `[env]`
 * settings, the secrets and the data directory, as lines of the app's Quadlet `.container`.
 *
 * - Settings go in an environment file (`EnvironmentFile=`), read by Podman as `NAME=value`
 *   lines with no quoting to get wrong, rather than in `Environment=` lines that systemd would
 *   expand (`%`, `$`, quotes).
 * - Secrets are Podman secrets (`rustless-<app>-<NAME>`, created from the gateway's own copy,
 *   root-only in Podman's store), mounted read-only for the container's user at
 *   `/run/secrets/<NAME>`: never in the unit, the image, the environment or the journal.
 * - The data directory `<state-dir>/data/<app>` is mounted at `/data`, handed to the
 *   container's user by Podman (`:U`), since the gateway itself has no right to chown.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppManifest } from '../../manifest/manifest.js';
import type { SecretStore } from '../../secrets/secret-store.js';
import { dataDir } from '../app-dirs.js';
import { podman } from './podman.js';
import { writeFileIfChanged } from '../../storage/durable-file.js';
import { makeDirectory } from '../../storage/make-directory.js';

/** Where the runner finds its secrets inside the container. */
const SECRETS_IN_CONTAINER = '/run/secrets';
const DATA_IN_CONTAINER = '/data';
/** The container's user (see quadlets/rustless-fn.container). */
const CONTAINER_UID = 65534;

export function podmanSecretName(app: string, name: string): string {
  return `rustless-fn-${app}-${name}`;
}

export function envFile(stateDir: string, app: string): string {
  return join(stateDir, 'env', `${app}.env`);
}

/** The `[Container]` lines for the app's settings, secrets and data; writes the env file they name. */
export async function renderAppConfig(stateDir: string, app: string, manifest: AppManifest, secretNames: readonly string[]): Promise<string> {
  const lines: string[] = [];
  const env = Object.entries(manifest.env);
  const file = envFile(stateDir, app);
  if (env.length > 0) {
    await makeDirectory(join(stateDir, 'env'), 0o700);
    // The manifest refused NUL, CR and LF in values: one line each, as Podman reads them.
    await writeFileIfChanged(file, env.map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 });
    lines.push(`EnvironmentFile=${file}`);
  } else {
    await rm(file, { force: true });
  }
  lines.push(`Environment=RUSTLESS_SECRETS_DIR=${SECRETS_IN_CONTAINER}`);
  for (const name of secretNames) {
    lines.push(`Secret=${podmanSecretName(app, name)},type=mount,target=${SECRETS_IN_CONTAINER}/${name},uid=${CONTAINER_UID},gid=${CONTAINER_UID},mode=0400`);
  }
  if (manifest.storage.data) {
    const dir = dataDir(stateDir, app);
    await makeDirectory(dir, 0o700);
    lines.push(`Volume=${dir}:${DATA_IN_CONTAINER}:rw,U`, `Environment=RUSTLESS_DATA_DIR=${DATA_IN_CONTAINER}`);
  }
  return lines.join('\n');
}

/** Makes Podman's secrets of the app the ones the store holds: created, replaced, removed. */
export async function syncPodmanSecrets(app: string, store: SecretStore, storeDir: string): Promise<string[]> {
  const names = await store.names(app);
  const existing = await listPodmanSecrets(app);
  for (const name of names) await podman(['secret', 'create', '--replace', podmanSecretName(app, name), join(storeDir, app, name)]);
  const stale = existing.filter((secret) => !names.some((name) => podmanSecretName(app, name) === secret));
  if (stale.length > 0) await podman(['secret', 'rm', ...stale]);
  return names;
}

/** Removes the app's Podman secrets and env file (its data directory is the gateway's to keep or delete). */
export async function removeAppConfig(stateDir: string, app: string): Promise<void> {
  const existing = await listPodmanSecrets(app);
  if (existing.length > 0) await podman(['secret', 'rm', ...existing]);
  await rm(envFile(stateDir, app), { force: true });
}

/** The app's Podman secrets by name (`--filter name=` matches substrings: the prefix is checked here). */
async function listPodmanSecrets(app: string): Promise<string[]> {
  const prefix = podmanSecretName(app, '');
  const listed = await podman(['secret', 'ls', '--noheading', '--format', '{{.Name}}', '--filter', `name=${prefix}`]);
  return listed
    .split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith(prefix));
}
