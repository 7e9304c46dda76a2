// The VM test host's cache of the shared dependencies a guest's rust-less built
// (scripts/lib/vm/deps-cache.mjs): what a guest publishes is added beside what is kept, newest
// first, a few at most. The guest here is a directory standing for its `/`, reached with sh
// instead of ssh: the same commands, run on this machine.
import t from 'tap';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { keepDepsLayers, keptDepsLayer } from '../../../scripts/lib/vm/deps-cache.mjs';

const DEPS = 'var/cache/rustless/deps';
const key = (c: string): string => c.repeat(24);

/** A stand-in guest whose `/` is `root`, for the calls keepDepsLayers makes. */
function guestAt(root: string) {
  const local = (cmd: string): string => cmd.replaceAll(`cd /${DEPS}`, `cd ${root}/${DEPS}`).replaceAll('tar -C / ', `tar -C ${root} `);
  return {
    run: async (cmd: string) => {
      const r = await execa('sh', ['-c', local(cmd)], { reject: false });
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
    },
    remote: (cmd: string) => local(cmd),
    sshArgv: (remote: string) => ['sh', '-c', remote],
  };
}

/** Makes the guest's published layers exactly `keys` (each with its ready file and one object). */
function publish(root: string, keys: string[]): void {
  rmSync(join(root, DEPS), { recursive: true, force: true });
  for (const k of keys) {
    mkdirSync(join(root, DEPS, k, 'release'), { recursive: true });
    writeFileSync(join(root, DEPS, k, 'release', 'lib.rlib'), k);
    writeFileSync(join(root, DEPS, k, 'ready'), `${k}\n`);
  }
}

t.test('layers are added beside the kept ones, newest first, three at most', async (t) => {
  const dir = t.testdir({ guest: {}, cache: {} });
  const root = join(dir, 'guest');
  const cache = join(dir, 'cache');
  const vm = guestAt(root);
  const kept = () => readFileSync(join(cache, 'vm-deps-arm64', 'ready'), 'utf8').trim().split('\n');
  const trees = () => readdirSync(join(keptDepsLayer('arm64', cache)!, DEPS)).sort();

  t.equal(keptDepsLayer('arm64', cache), undefined, 'nothing kept at first');
  publish(root, [key('a')]);
  t.same(await keepDepsLayers(vm as never, 'arm64', { cacheDir: cache }), [key('a')]);
  t.same(kept(), [key('a')]);
  t.equal(readFileSync(join(keptDepsLayer('arm64', cache)!, DEPS, key('a'), 'release', 'lib.rlib'), 'utf8'), key('a'), "the layer's files");

  // A guest with another runner/ path builds another layer (and has not got the first).
  publish(root, [key('b')]);
  await keepDepsLayers(vm as never, 'arm64', { cacheDir: cache });
  t.same(kept(), [key('b'), key('a')], 'the new one first, the old one kept');
  t.same(trees(), [key('a'), key('b')]);

  publish(root, [key('a'), key('b')]);
  await keepDepsLayers(vm as never, 'arm64', { cacheDir: cache });
  t.same(kept(), [key('b'), key('a')], 'nothing new: unchanged');

  publish(root, [key('c'), key('d')]);
  await keepDepsLayers(vm as never, 'arm64', { cacheDir: cache });
  t.same(kept(), [key('c'), key('d'), key('b')], 'three at most: the oldest goes');
  t.same(trees(), [key('b'), key('c'), key('d')]);
  t.equal(readFileSync(join(keptDepsLayer('arm64', cache)!, DEPS, key('b'), 'release', 'lib.rlib'), 'utf8'), key('b'), 'a kept layer moved intact');
});

t.test('a layer without its ready file (a build cut short) is not kept', async (t) => {
  const dir = t.testdir({ guest: {}, cache: {} });
  const root = join(dir, 'guest');
  publish(root, [key('e')]);
  rmSync(join(root, DEPS, key('e'), 'ready'));
  t.same(await keepDepsLayers(guestAt(root) as never, 'arm64', { cacheDir: join(dir, 'cache') }), []);
  t.equal(keptDepsLayer('arm64', join(dir, 'cache')), undefined);
});
