import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildUserName, copyBuildOutput } from '../../../../src/backends/systemd/sandboxed-build.js';

async function scratch(t: { teardown(fn: () => unknown): void }): Promise<{ cache: string; outside: string; dest: string }> {
  const root = await mkdtemp(join(tmpdir(), 'rustless-sandbox-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const cache = join(root, 'cache');
  await mkdir(join(cache, 'target', 'release'), { recursive: true });
  const outside = join(root, 'secret');
  await writeFile(outside, 'root:$y$...:19000:0:99999:7:::\n');
  return { cache, outside, dest: join(root, 'runner') };
}

t.test('copyBuildOutput copies a regular file of the build cache', async (t) => {
  const { cache, dest } = await scratch(t);
  await writeFile(join(cache, 'target', 'release', 'app'), 'ELF');
  await copyBuildOutput(cache, join(cache, 'target', 'release', 'app'), dest);
  t.equal(await readFile(dest, 'utf8'), 'ELF');
});

t.test('copyBuildOutput refuses a binary the build made a symlink to a file outside its cache', async (t) => {
  const { cache, outside, dest } = await scratch(t);
  await symlink(outside, join(cache, 'target', 'release', 'app'));
  await t.rejects(copyBuildOutput(cache, join(cache, 'target', 'release', 'app'), dest), { code: 'RUSTLESS_BUILD_FAILED', message: /leads to .*secret, not to a file of the build's own cache/ });
  await t.rejects(readFile(dest), { code: 'ENOENT' }, 'nothing was copied');
});

t.test('copyBuildOutput refuses a directory on the way that the build replaced by a symlink', async (t) => {
  const { cache, outside, dest } = await scratch(t);
  await rm(join(cache, 'target', 'release'), { recursive: true });
  await symlink(join(outside, '..'), join(cache, 'target', 'release'));
  await t.rejects(copyBuildOutput(cache, join(cache, 'target', 'release', 'secret'), dest), { code: 'RUSTLESS_BUILD_FAILED' });
});

t.test('copyBuildOutput says when the build left no binary', async (t) => {
  const { cache, dest } = await scratch(t);
  await t.rejects(copyBuildOutput(cache, join(cache, 'target', 'release', 'app'), dest), { code: 'RUSTLESS_BUILD_FAILED', message: /left no binary/ });
});

t.test('each app builds as a user of its own, with a name systemd accepts', async (t) => {
  t.equal(buildUserName('hello'), 'rustless-build-hello');
  const long = buildUserName('a-very-long-app-name-that-goes-on-and-on');
  t.ok(long.length <= 31, `${long} fits in 31 characters`);
  t.not(long, buildUserName('a-very-long-app-name-that-goes-on-and-on-2'), 'two long names give two users');
});
