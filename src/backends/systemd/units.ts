/**
 * The per-app units, rendered from the templates in `quadlets/`: a Quadlet `.container` (which
 * Quadlet turns into `rustless-fn-<app>.service`) and a `.socket` systemd holds for it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RustlessError } from '../../errors.js';
import type { ContainerSpec } from '../../manifest/manifest.js';
import { PACKAGE_ROOT } from '../../version.js';

export const QUADLET_DIR = '/etc/containers/systemd';
export const UNIT_DIR = '/etc/systemd/system';
export const TEMPLATE_DIR = join(PACKAGE_ROOT, 'quadlets');

const APP_NAME = /^[a-z][a-z0-9-]*$/;
const IMAGE = /^[a-z0-9./_-]+:[A-Za-z0-9._-]+$/;
const MEMORY = /^[0-9]+[KMG]?$/;

export interface UnitNames {
  /** `rustless-fn-<app>`: the container name, and the service and socket unit names without suffix. */
  base: string;
  service: string;
  socket: string;
  containerFile: string;
  socketFile: string;
}

export function unitNames(app: string, { quadletDir = QUADLET_DIR, unitDir = UNIT_DIR } = {}): UnitNames {
  if (!APP_NAME.test(app)) throw new RustlessError('RUSTLESS_INTERNAL', `not an app name a unit can carry: ${JSON.stringify(app)}`);
  const base = `rustless-fn-${app}`;
  return { base, service: `${base}.service`, socket: `${base}.socket`, containerFile: join(quadletDir, `${base}.container`), socketFile: join(unitDir, `${base}.socket`) };
}

export interface ContainerValues {
  app: string;
  buildId: number | string;
  image: string;
  container: ContainerSpec;
  /** The runner logs a line per request. */
  accessLog?: boolean;
  /** `[Container]` lines for settings, secrets and data (see app-config.ts). */
  appConfig?: string;
  /** Where the gateway records a freeze of this app (`<runtimeDir>/frozen/<app>`): the unit thaws it before a stop. */
  frozenRecord?: string;
}

export async function renderContainer({ app, buildId, image, container, accessLog = false, appConfig = '', frozenRecord = `/run/rustless/frozen/${app}` }: ContainerValues, templateDir = TEMPLATE_DIR): Promise<string> {
  if (!/^[A-Za-z0-9/._-]+$/.test(frozenRecord)) throw new RustlessError('RUSTLESS_INTERNAL', `not a path the unit's ExecStop= can carry: ${JSON.stringify(frozenRecord)}`);
  if (!IMAGE.test(image)) throw new RustlessError('RUSTLESS_INTERNAL', `not an image name a unit can carry: ${JSON.stringify(image)}`);
  if (!MEMORY.test(container.memory)) throw new RustlessError('RUSTLESS_INTERNAL', `container.memory must be a size such as 64M, got ${JSON.stringify(container.memory)}`);
  if (!Number.isInteger(container.pids) || container.pids < 1) throw new RustlessError('RUSTLESS_INTERNAL', `container.pids must be a positive integer, got ${JSON.stringify(container.pids)}`);
  const template = await readFile(join(templateDir, 'rustless-fn.container'), 'utf8');
  return fill(template, {
    app,
    buildId: String(buildId),
    image,
    networkLine: container.network ? '# rustless.toml asks for network: Podman\'s default network.' : 'Network=none',
    pids: String(container.pids),
    // systemd's MemoryMax= takes the same suffixes as rustless.toml (K, M, G, base 1024).
    memory: container.memory,
    accessLog: accessLog ? '1' : '0',
    appConfig,
    frozenRecord,
  });
}

export async function renderSocket({ app, socketPath }: { app: string; socketPath: string }, templateDir = TEMPLATE_DIR): Promise<string> {
  const template = await readFile(join(templateDir, 'rustless-fn.socket'), 'utf8');
  return fill(template, { app, socketPath });
}

/** Values that are whole lines of the unit; every other value must stay on its line. */
const MULTILINE = new Set(['appConfig']);

/** Replaces each `{{key}}`; a key without a value is a bug in the template or here. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new RustlessError('RUSTLESS_INTERNAL', `unit template uses {{${key}}}, which has no value`);
    if (/\r/.test(value) || (!MULTILINE.has(key) && /\n/.test(value))) throw new RustlessError('RUSTLESS_INTERNAL', `unit template value ${key} spans lines: ${JSON.stringify(value)}`);
    return value;
  });
}
