/**
 * The directories of the unprivileged build user (run-as.ts), under one root the gateway owns:
 *   runner/   root's copies of runner/'s `rustless` and `rustless-runner` crates (read-only to it),
 *             one per content hash: gateways sharing this root never rewrite a copy another reads
 *   bin/      root's copies of the runner binaries it may execute, one per installed build
 *   work/     its copies of the build crates being compiled, one per gateway and app (its own)
 *   target/   cargo's target dir, shared between builds (its own)
 *   home/     its HOME and CARGO_HOME (its own)
 * Nothing else is writable to it: the state dir, the registry and the admin socket stay root's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, cp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { RustlessError } from '../../errors.js';
import { blockedAncestor, type RunAs } from './run-as.js';
import { makeDirectory } from '../../storage/make-directory.js';
import { crateFiles } from '../../cargo/crate-files.js';

const RUNNER_CRATES = ['rustless', 'rustless-runner'];

export class SandboxDir {
  private constructor(
    readonly root: string,
    readonly runAs: RunAs,
  ) {}

  /** Lays out `root` for `runAs`; fails when it cannot reach `root` (a 0700 home above it). */
  static async open(root: string, runAs: RunAs): Promise<SandboxDir> {
    const blocked = await blockedAncestor(join(root, 'x'));
    if (blocked) {
      throw new RustlessError('RUSTLESS_BACKEND_FAILED', `the build user ${runAs.user} cannot reach ${root}: ${blocked} lets no one else through; pass --cache-dir in a directory others can enter (the default as root is /var/cache/rustless/local)`);
    }
    await makeDirectory(root, 0o755);
    await chown(root, 0, 0);
    const sandbox = new SandboxDir(root, runAs);
    for (const dir of ['runner', 'bin']) await makeDirectory(join(root, dir), 0o755);
    for (const dir of ['work', 'target', 'home']) {
      await makeDirectory(join(root, dir), 0o700);
      await chown(join(root, dir), runAs.uid, runAs.gid);
    }
    return sandbox;
  }

  get targetDir(): string {
    return join(this.root, 'target');
  }

  get home(): string {
    return join(this.root, 'home');
  }

  /**
   * Copies runner/'s crates where the build user can read them; builds link against this copy.
   * Any number of gateways share this root and may start at the same moment, so a copy is never
   * rewritten in place: it is named by a hash of its contents, made in a private temporary
   * directory and renamed into place. The first rename wins; the others find it there.
   */
  async stageRunnerCrates(runnerDir: string): Promise<string> {
    const staged = join(this.root, 'runner', await contentHash(runnerDir, RUNNER_CRATES));
    if (await exists(staged)) return staged;
    const partial = `${staged}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
    try {
      for (const crate of RUNNER_CRATES) {
        await cp(join(runnerDir, crate), join(partial, crate), { recursive: true, filter: (source) => !/\/target(\/|$)/.test(source) });
      }
      await rename(partial, staged);
    } catch (error) {
      // Another gateway renamed the same contents into place first: use theirs.
      if (!(await exists(staged))) throw error;
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    return staged;
  }

  /**
   * A fresh copy of a build crate, owned by the build user, for cargo to build in. Its name
   * carries a hash of the gateway's builds dir: two gateways building apps of the same name at
   * once each build in their own copy. Remove it with removeWorkCopy once cargo is done.
   */
  async workCopy(crateDir: string, app: string): Promise<string> {
    const work = join(this.root, 'work', `${app}-${shortHash(dirname(crateDir))}`);
    await rm(work, { recursive: true, force: true });
    // The build's own records and a previous binary stay with root.
    const skip = new Set(['target', 'runner', 'build.log', 'build.json'].map((name) => join(crateDir, name)));
    await cp(crateDir, work, { recursive: true, filter: (source) => !skip.has(source) });
    await chownTree(work, this.runAs);
    return work;
  }

  /** Removes a copy workCopy made: the next build copies afresh, so keeping it saves nothing. */
  async removeWorkCopy(work: string): Promise<void> {
    if (work.startsWith(join(this.root, 'work') + '/')) await rm(work, { recursive: true, force: true });
  }

  /**
   * Puts a root-owned, 0755 copy of a build's runner where the build user can execute it, and
   * returns its path. The name is the app's plus a hash of the build's own path: gateways that
   * share this cache dir (a test gateway beside the real one) never overwrite each other's
   * apps of the same name. The copy lands by rename, so a runner still executing an earlier
   * copy keeps its file (copying over it would fail with ETXTBSY).
   */
  async installBinary(app: string, buildBinary: string): Promise<string> {
    const path = join(this.root, 'bin', `${app}-${shortHash(buildBinary)}`);
    const partial = `${path}.${process.pid}.partial`;
    await copyFile(buildBinary, partial);
    await chmod(partial, 0o755);
    await rename(partial, path);
    return path;
  }

  /** Removes a copy installBinary made; anything else is left alone. */
  async removeBinary(path: string): Promise<void> {
    if (path.startsWith(join(this.root, 'bin') + '/')) await rm(path, { force: true });
  }
}

async function chownTree(path: string, owner: Pick<RunAs, 'uid' | 'gid'>): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, owner);
    else await chown(child, owner.uid, owner.gid);
  }
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A hash of the files (names and contents) under `dir`'s `subdirs`, `target/` left out. */
async function contentHash(dir: string, subdirs: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const subdir of subdirs) {
    for await (const file of crateFiles(join(dir, subdir))) hash.update(`${relative(dir, file)}\0`).update(await readFile(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
