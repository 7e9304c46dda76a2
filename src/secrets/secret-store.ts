/**
 * Secrets of function apps, kept on the host as one file each under
 * `<stateDir>/secrets/<app>/<NAME>`: directories 0700 and files 0600, owned by the gateway's
 * user (root in production). Never in the registry, a unit file, an image or a log line.
 *
 * A backend hands a runner a copy made at start (`deliver`), readable by the runner's user only,
 * so removing a secret takes effect at the next start and the stored copy stays the gateway's.
 */
import { chmod, chown, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RustlessError } from '../errors.js';
import { VARIABLE_NAME } from '../manifest/variable-name.js';
import { removeFileDurable, syncDir, writeFileDurable } from '../storage/durable-file.js';
import { naming } from '../storage/no-space.js';
import { makeDirectory } from '../storage/make-directory.js';

/** Large enough for a key or a certificate, small enough to keep out of mistakes. */
export const MAX_SECRET_BYTES = 64 * 1024;

export interface SecretOwner {
  uid: number;
  gid: number;
}

export class SecretStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async set(app: string, name: string, value: Buffer): Promise<void> {
    checkName(name);
    if (value.length === 0) throw new RustlessError('RUSTLESS_BAD_REQUEST', `secret ${name} is empty: give it a value on standard input`);
    if (value.length > MAX_SECRET_BYTES) throw new RustlessError('RUSTLESS_BAD_REQUEST', `secret ${name} is ${value.length} bytes; at most ${MAX_SECRET_BYTES} are allowed`);
    const dir = this.#appDir(app);
    // Atomic and durable: after a crash or a power cut the secret has its old value or the new
    // one, never half of one, and the new one for sure once `rustless secret set` answered.
    await naming(`setting secret ${name} of app ${app}`, dir, async () => {
      const created = await makeDirectory(dir, 0o700);
      await chmod(this.#dir, 0o700);
      // New directories are durable only once their parents are synced.
      if (created !== undefined) for (const parent of [dirname(this.#dir), this.#dir]) await syncDir(parent);
      await writeFileDurable(join(dir, name), value, { mode: 0o600 });
    });
  }

  /** Removes a secret; false when it was not set. */
  async remove(app: string, name: string): Promise<boolean> {
    checkName(name);
    const file = join(this.#appDir(app), name);
    const existed = (await this.names(app)).includes(name);
    if (existed) await removeFileDurable(file);
    return existed;
  }

  /** The names of the secrets set for `app`, sorted; never the values. */
  async names(app: string): Promise<string[]> {
    const entries = await readdir(this.#appDir(app)).catch(() => [] as string[]);
    return entries.filter((name) => VARIABLE_NAME.test(name)).sort();
  }

  async removeApp(app: string): Promise<void> {
    await rm(this.#appDir(app), { recursive: true, force: true });
  }

  /** At start: removes the secrets of apps that no longer exist (an `rm` cut short removes the app first). */
  async removeOrphans(apps: ReadonlySet<string>): Promise<string[]> {
    const orphans = (await readdir(this.#dir).catch(() => [] as string[])).filter((app) => !apps.has(app));
    for (const app of orphans) await this.removeApp(app);
    return orphans.length > 0 ? [`the secrets of removed app${orphans.length === 1 ? '' : 's'} ${orphans.join(', ')} deleted`] : [];
  }

  /**
   * Puts a fresh copy of the app's secrets in `target` (emptied first), readable by `owner`
   * only: the directory 0500 and the files 0400.
   */
  async deliver(app: string, target: string, owner?: SecretOwner): Promise<void> {
    // A copy that is already exactly the store's stays: a cold start writes nothing to the card
    // (less wear) and still starts on a full disk.
    if (await this.#delivered(app, target, owner)) return;
    await rm(target, { recursive: true, force: true });
    await makeDirectory(target, 0o700);
    for (const name of await this.names(app)) {
      const file = join(target, name);
      await writeFile(file, await readFile(join(this.#appDir(app), name)), { mode: 0o400 });
      if (owner) await chown(file, owner.uid, owner.gid);
    }
    if (owner) await chown(target, owner.uid, owner.gid);
    await chmod(target, 0o500);
  }

  async #delivered(app: string, target: string, owner: SecretOwner | undefined): Promise<boolean> {
    try {
      const names = await this.names(app);
      const there = (await readdir(target)).sort();
      const dir = await stat(target);
      if (there.join('\n') !== names.join('\n') || (dir.mode & 0o777) !== 0o500 || (owner && dir.uid !== owner.uid)) return false;
      for (const name of names) {
        const file = join(target, name);
        const [copy, stored, info] = await Promise.all([readFile(file), readFile(join(this.#appDir(app), name)), stat(file)]);
        if (!copy.equals(stored) || (info.mode & 0o777) !== 0o400 || (owner && info.uid !== owner.uid)) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  #appDir(app: string): string {
    return join(this.#dir, app);
  }
}

function checkName(name: string): void {
  if (!VARIABLE_NAME.test(name)) {
    throw new RustlessError('RUSTLESS_BAD_REQUEST', `a secret's name is upper-case letters, digits and _, not starting with a digit (at most 64), got ${JSON.stringify(name)}`);
  }
}
