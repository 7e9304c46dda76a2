/**
 * The directories of the unprivileged build user (run-as.ts), under one root the gateway owns:
 *   runner/   root's copy of runner/'s `rustless` and `rustless-runner` crates (read-only to it)
 *   bin/      root's copies of the runner binaries it may execute, one per app
 *   work/     its copy of the build crate being compiled (its own)
 *   target/   cargo's target dir, shared between builds (its own)
 *   home/     its HOME and CARGO_HOME (its own)
 * Nothing else is writable to it: the state dir, the registry and the admin socket stay root's.
 */
import { chown, cp, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RustlessError } from '../../errors.js';
import { blockedAncestor, type RunAs } from './run-as.js';

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
    await mkdir(root, { recursive: true, mode: 0o755 });
    await chown(root, 0, 0);
    const sandbox = new SandboxDir(root, runAs);
    for (const dir of ['runner', 'bin']) await mkdir(join(root, dir), { recursive: true, mode: 0o755 });
    for (const dir of ['work', 'target', 'home']) {
      await mkdir(join(root, dir), { recursive: true, mode: 0o700 });
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

  /** Copies runner/'s crates where the build user can read them; builds link against this copy. */
  async stageRunnerCrates(runnerDir: string): Promise<string> {
    const staged = join(this.root, 'runner');
    for (const crate of RUNNER_CRATES) {
      await rm(join(staged, crate), { recursive: true, force: true });
      await cp(join(runnerDir, crate), join(staged, crate), { recursive: true, filter: (source) => !/\/target(\/|$)/.test(source) });
    }
    return staged;
  }

  /** A fresh copy of a build crate, owned by the build user, for cargo to build in. */
  async workCopy(crateDir: string, app: string): Promise<string> {
    const work = join(this.root, 'work', app);
    await rm(work, { recursive: true, force: true });
    // The build's own records and a previous binary stay with root.
    const skip = new Set(['target', 'runner', 'build.log', 'build.json'].map((name) => join(crateDir, name)));
    await cp(crateDir, work, { recursive: true, filter: (source) => !skip.has(source) });
    await chownTree(work, this.runAs);
    return work;
  }

  /** Where the runner binary of `app` lives for the build user to execute (root's file, 0755). */
  binaryPath(app: string): string {
    return join(this.root, 'bin', app);
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
