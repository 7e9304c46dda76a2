/**
 * Issue 16's first run on a new machine: `npm ci` ran before libsystemd-dev, so npm dropped the
 * optional sd-notify dependency whole (no node_modules/sd-notify at all), and `npm rebuild
 * sd-notify` then "succeeds" doing nothing. The repair (scripts/sd-notify-binding.mjs, which npm
 * start, npm test and install.mjs run too) runs for real on a copy of the package in that state:
 * it must end with the binding loading, or say why not and leave nothing half-installed.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { ROOT } from '../helpers/gateway.js';
import { onFreshMachine } from './fixtures/fresh-machine.js';

const SCRIPT = join(ROOT, 'scripts', 'sd-notify-binding.mjs');
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; integrity: string }> };
const locked = lock.packages['node_modules/sd-notify']!;
const pcDir = (await execa('pkg-config', ['--variable=pcfiledir', 'libsystemd'])).stdout.trim();

/** The package as `npm ci` leaves it without libsystemd-dev: the lockfile, bindings, no sd-notify. */
async function droppedCopy(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-sd-notify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const entry of ['package.json', 'package-lock.json', 'node_modules/bindings', 'node_modules/file-uri-to-path']) {
    await cp(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
  return dir;
}

const loads = (dir: string) => execa('node', ['-e', "const sd = require('sd-notify'); if (typeof sd.ready !== 'function') process.exit(2)"], { cwd: dir, reject: false });

t.test('the copy is as npm ci left it: no binding, and npm rebuild installs none', async (t) => {
  const dir = await droppedCopy(t);
  t.notOk(existsSync(join(dir, 'node_modules', 'sd-notify')));
  const rebuild = await execa('npm', ['rebuild', 'sd-notify'], { cwd: dir, env, extendEnv: false, reject: false, all: true });
  t.equal(rebuild.exitCode, 0, 'npm rebuild says it succeeded...');
  t.notOk(existsSync(join(dir, 'node_modules', 'sd-notify')), '... and installed nothing');
  t.not((await loads(dir)).exitCode, 0);
});

t.test('offline, the repair installs the lockfile\'s version from npm\'s cache, and it loads', async (t) => {
  const dir = await droppedCopy(t);
  const before = await readFile(join(dir, 'package-lock.json'), 'utf8');
  // No network: the tarball comes from the cache the first npm ci filled, as on a Pi offline.
  const result = await onFreshMachine(['node', SCRIPT, '--root', dir], { hide: [], env, timeoutMs: 300_000 });
  t.equal(result.exitCode, 0, result.all);
  t.match(result.all, `building sd-notify@${locked.version} (the lockfile's version and integrity)`);
  t.match(result.all, `sd-notify: built and installed sd-notify@${locked.version}`);
  t.equal(JSON.parse(await readFile(join(dir, 'node_modules', 'sd-notify', 'package.json'), 'utf8')).version, locked.version);
  t.ok(existsSync(join(dir, 'node_modules', 'sd-notify', 'build', 'Release', 'notify.node')), 'the native part was built');
  t.equal((await loads(dir)).exitCode, 0, 'require("sd-notify") works in the copy');
  t.equal(await readFile(join(dir, 'package-lock.json'), 'utf8'), before, 'the lockfile is untouched');

  const again = await execa('node', [SCRIPT, '--root', dir], { env, extendEnv: false, reject: false, all: true });
  t.equal(again.exitCode, 0, again.all);
  t.match(again.all, 'sd-notify: the sd-notify binding loads', 'a second run has nothing to do');
});

t.test('without libsystemd-dev it says so at once and installs nothing', async (t) => {
  const dir = await droppedCopy(t);
  const result = await onFreshMachine(['node', SCRIPT, '--root', dir], { hide: [pcDir, '/usr/include/systemd'], env });
  t.equal(result.exitCode, 1, result.all);
  t.match(result.all, 'the sd-notify binding is not installed, and it cannot be built without libsystemd-dev: apt install libsystemd-dev');
  t.notOk(existsSync(join(dir, 'node_modules', 'sd-notify')));
});

t.test('a build that fails (headers gone, pkg-config still finds libsystemd) is an error, not a skip', async (t) => {
  const dir = await droppedCopy(t);
  const result = await onFreshMachine(['node', SCRIPT, '--root', dir], { hide: ['/usr/include/systemd'], env, timeoutMs: 300_000 });
  t.equal(result.exitCode, 1, result.all);
  t.match(result.all, /npm ci .* of sd-notify@[\d.]+ \(the lockfile's version and integrity\) failed: .*sd-daemon\.h/);
  t.notOk(existsSync(join(dir, 'node_modules', 'sd-notify')), 'nothing half-installed');
});

t.test('a lockfile whose integrity does not match the tarball is refused', async (t) => {
  const dir = await droppedCopy(t);
  const file = join(dir, 'package-lock.json');
  const tampered = JSON.parse(await readFile(file, 'utf8'));
  tampered.packages['node_modules/sd-notify'].integrity = lock.packages['node_modules/bindings']!.integrity;
  await writeFile(file, JSON.stringify(tampered));
  const result = await onFreshMachine(['node', SCRIPT, '--root', dir], { hide: [], env, network: true, timeoutMs: 300_000 });
  t.equal(result.exitCode, 1, result.all);
  t.match(result.all, /EINTEGRITY|integrity/);
  t.notOk(existsSync(join(dir, 'node_modules', 'sd-notify')));
});
