// rust-less installed on an arm64 Pi the way its owner installs it (issue 16, section 5): from the
// package as it would be published, not from a checkout. `npm pack` here; then, in a 1 GiB arm64
// VM (the smallest Pi 4), `npm install -g` of the tarball, `sudo rustless install`, the doctor,
// a deploy of hello built inside the VM from the package's own example, and a request to it.
//
// The VM has no network, so it installs as an offline Pi does (docs/install.md, "Offline"): from
// an npm cache that an install of the same tarball filled on a machine with the registry (here:
// this machine, starting from a copy of its own cache). On a Pi with internet better-sqlite3's install downloads its
// prebuilt linux-arm64 binary from the project's releases (prebuild-install); here that download
// is stood in by the binary cross-compiled for the guest (scripts/lib/vm/node-modules.mjs), put
// where prebuild-install looks before it downloads: npm's cache, under the name the download
// would have. sd-notify has no prebuilt binary: the VM compiles it, as a Pi does. (Offline, a Pi
// compiles better-sqlite3 too: minutes on a Pi, over an hour under emulation.)
// `npm run test:vm` runs it. The package's runner/ is at another path than a checkout's, so its
// shared dependencies are another layer (their key holds runner/'s paths). With a checkout's
// layer kept from an earlier VM (scripts/lib/vm/deps-cache.mjs), as on a Pi that ran a checkout
// before, the new layer's build starts from it and compiles rust-less's own crates only; from
// nothing it takes over an hour in this 1 GiB VM, one rustc at a time (the first run here was
// stopped by the old one-hour limit on the last crates, with no OOM kill).
// The emulated CPU is 20-50x slower than native: every time here is a timeout, never a goal.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir, homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { execa } from 'execa';
import { keepDepsLayers, keptDepsLayer } from '../../scripts/lib/vm/deps-cache.mjs';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { compiledCrates } from '../helpers/compiled-crates.js';
import { npmPack } from '../helpers/npm-pack.js';
import { GUEST_PORT, PiSuite, type VmSession } from '../helpers/vm-guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = process.env.RUSTLESS_VM_PACKED_INSTANCE ?? 'vm-packed';
const GATEWAY_FLAGS = '--build-timeout 3600';
/** Where the guest's node_modules layer (node-modules.mjs) puts the cross-compiled modules. */
const CROSS_COMPILED = '/opt/rustless/node_modules';

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(240 * 60_000);

const scratch = await mkdtemp(join(tmpdir(), 'rustless-vm-pack-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
const pi = new PiSuite(t, NAME, ROOT);
let s: VmSession;
let tarball: string;

/** better-sqlite3's package.json in the node_modules at `dir`. */
function betterSqlite3(dir: string): { name: string; version: string } {
  return JSON.parse(readFileSync(join(dir, 'better-sqlite3', 'package.json'), 'utf8')) as { name: string; version: string };
}

/**
 * The file name under npm's `_prebuilds` that prebuild-install looks for before it downloads
 * better-sqlite3's prebuilt binary for Node ABI `abi` on linux-`arch`: its own rule (util.js
 * cachedPrebuild), from the URL it would download.
 */
function prebuiltCacheName(abi: string, arch: string): string {
  const require = createRequire(join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'));
  const pkg = betterSqlite3(join(ROOT, 'node_modules'));
  const util = require('prebuild-install/util') as { getDownloadUrl(opts: object): string };
  const url = util.getDownloadUrl({ pkg, runtime: 'node', abi, platform: 'linux', arch, libc: '', 'tag-prefix': 'v' });
  const digest = createHash('sha512').update(url).digest('hex').slice(0, 6);
  return `${digest}-${basename(url).replace(/[^a-zA-Z0-9.]+/g, '-')}`;
}

t.test('npm pack, and an npm cache with all the package needs, for the offline install', async (t) => {
  tarball = await npmPack(ROOT, join(scratch, 'pack'));
  t.match(basename(tarball), /^rustless-\d+\.\d+\.\d+\.tgz$/, basename(tarball));
  const cache = join(scratch, 'npm');
  await cp(join(homedir(), '.npm', '_cacache'), join(cache, '_cacache'), { recursive: true });
  // `npm install -g` resolves the package's ranges (no lockfile travels in it): the registry's
  // metadata must be in the cache too, which only an install of the tarball itself puts there.
  const fill = join(scratch, 'fill');
  const filled = await execa('npm', ['install', '--prefix', fill, '--cache', cache, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', tarball], { reject: false, all: true, env: { ...process.env, NODE_OPTIONS: '' } });
  t.equal(filled.exitCode, 0, `npm install of the tarball with the registry, filling the cache\n${filled.all}`);
  // The prebuilt stand-in is the lockfile's better-sqlite3, cross-compiled: the install must resolve to it.
  t.equal(betterSqlite3(join(fill, 'node_modules')).version, betterSqlite3(join(ROOT, 'node_modules')).version, "the install resolves better-sqlite3 to the lockfile's version");
});

t.test('boot a 1 GiB arm64 VM; the prebuilt better-sqlite3 a networked Pi would download, in its npm cache', async (t) => {
  s = await pi.boot(t, {
    keepDisk: false,
    memory: 1024,
    binds: [
      { host: join(scratch, 'pack'), guest: '/pack', readOnly: true },
      { host: join(scratch, 'npm'), guest: '/root/.npm' },
    ],
  });
  const abi = (await s.ok(t, 'node -p process.versions.modules')).stdout.trim();
  const name = prebuiltCacheName(abi, 'arm64');
  t.match(name, `-better-sqlite3-v`, name);
  await s.ok(t, `mkdir -p /root/.npm/_prebuilds && tar -C ${CROSS_COMPILED}/better-sqlite3 -czf /root/.npm/_prebuilds/${name} build/Release/better_sqlite3.node`, 'the stand-in for the download');
  // Nothing of the checkout's layer is left for the package to lean on.
  await s.ok(t, `rm -rf ${CROSS_COMPILED}`);
});

t.test('npm install -g of the tarball, offline: the rustless command, both native modules for arm64', async (t) => {
  const started = Date.now();
  await s.ok(t, `cd /tmp && npm install -g --offline --no-audit --no-fund --foreground-scripts /pack/${basename(tarball)} 2>&1`, 'npm install -g', 3_600_000);
  t.comment(`npm install -g in the VM: ${((Date.now() - started) / 1000).toFixed(0)} s (emulated)`);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.equal((await s.ok(t, 'rustless --version')).stdout.trim(), version, 'rustless --version');
  const lib = (await s.ok(t, 'npm root -g')).stdout.trim();
  t.equal(lib, '/usr/local/lib/node_modules', "npm's global root");
  await s.ok(t, `cd ${lib}/rustless && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get(); require('sd-notify')"`, 'better-sqlite3 and sd-notify load on arm64');
  t.equal((await s.sh(`test -d ${lib}/rustless/node_modules/better-sqlite3/build/Release/obj.target`)).exitCode, 1, 'better-sqlite3: the prebuilt binary, not compiled');
  await s.ok(t, `test -f ${lib}/rustless/node_modules/sd-notify/build/Release/obj.target/notify.node`, 'sd-notify: compiled in the VM');
});

t.test('sudo rustless install: the package where npm put it, the doctor passes', async (t) => {
  const install = await s.ok(t, `cd /tmp && rustless install --port ${GUEST_PORT} --gateway-flags="${GATEWAY_FLAGS}" 2>&1`, 'rustless install', 1_800_000);
  t.match(install.stdout, 'package in /usr/local/lib/node_modules/rustless (where npm installed it)');
  t.match(install.stdout, 'the gateway notifies systemd with the sd-notify binding');
  t.match(install.stdout, /ready for the systemd backend/, 'rustless doctor --backend systemd passes');
  t.match((await s.ok(t, 'systemctl cat rustless.service')).stdout, 'ExecStart=/usr/bin/env node /usr/local/lib/node_modules/rustless/dist/cli/main.js gateway --backend systemd');
  await s.gatewayAnswers(t);
});

t.test("deploy the package's hello, built inside the 1 GiB VM, and call it", async (t) => {
  await s.ok(t, 'mkdir -p /root/apps && cp -r /usr/local/lib/node_modules/rustless/runner/examples/hello /root/apps/hello');
  const output = await s.deploy(t, 'hello', 150 * 60_000);
  if (/^rustless: building the shared dependencies/m.test(output) && keptDepsLayer('arm64')) {
    t.match(output, /^rustless: starting from the shared dependencies in \/var\/cache\/rustless\/deps\/[0-9a-f]{24} \(same rustc\)/m, "the package's layer starts from the kept one");
    const compiled = compiledCrates(output);
    t.same(compiled.filter((name) => !/^(rustless(-|$|_)|hello$)/.test(name)), [], "no registry crate compiles again, only rust-less's own and the app", { compiled });
  }
  await keepDepsLayers(s.vm as never, 'arm64', { log: (m: string) => t.comment(m) });
  t.same((await s.get('/hello/pi')).body, { message: 'hello pi' }, 'hello answers');
  t.equal((await s.ok(t, "journalctl -k --no-pager -o cat | grep -ci 'oom-kill' || true")).stdout.trim(), '0', 'no OOM kill in 1 GiB');
});
