// The guest's own node_modules. This machine's hold x86 native modules (better-sqlite3,
// sd-notify); an arm64 guest needs arm64 ones, from the same lockfile, `npm ci --offline` against
// this machine's npm cache. The native modules are cross-compiled here, with Debian's aarch64
// cross compilers and the guest's root as their sysroot (its glibc, its libsystemd): compiling
// sqlite3 under qemu-user took over 15 minutes of CPU, natively it takes one. A Pi compiles them
// itself, offline, from a copy of an npm cache (docs/raspberry-pi.md, "Offline").
//
// npm itself is this machine's: it is JavaScript, and Debian's npm (~450 packages) took over
// 20 minutes to unpack under qemu-user. It goes into the layer with this machine's Node headers
// (the same Node 20 ABI as the guest's Debian nodejs), so the guest has `npm` (for
// `npm install -g` of a packed rust-less) and headers to build native modules with.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { must, sh, TesthostError } from '../host-command.mjs';
import { CACHE_DIR } from '../testhost.mjs';
import { hostArch } from './root.mjs';

/** Where the guest finds rust-less's dependencies: the layer is laid over its root at this path. */
export const GUEST_APP_DIR = '/opt/rustless';

/** GNU triples of Debian's cross compilers (gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu). */
const TRIPLES = { arm64: 'aarch64-linux-gnu', amd64: 'x86_64-linux-gnu' };

/** The environment that makes node-gyp build for `arch` against `root` (nothing for this machine's own). */
function crossEnv(arch, root) {
  if (arch === hostArch()) return {};
  const triple = TRIPLES[arch];
  for (const tool of ['gcc', 'g++']) {
    if (!fs.existsSync(`/usr/bin/${triple}-${tool}`)) throw new TesthostError('TESTHOST_NO_CROSS_COMPILER', `/usr/bin/${triple}-${tool} is missing: apt-get install ${tool === 'gcc' ? 'gcc' : 'g++'}-${triple}`);
  }
  const sysroot = `--sysroot=${root}`;
  return {
    CC: `${triple}-gcc ${sysroot}`,
    CXX: `${triple}-g++ ${sysroot}`,
    LINK: `${triple}-g++ ${sysroot}`,
    AR: `${triple}-ar`,
    npm_config_arch: arch,
    npm_config_target_arch: arch,
    // pkg-config (sd-notify's libsystemd) reads the guest's .pc files, with the guest's paths.
    PKG_CONFIG_SYSROOT_DIR: root,
    PKG_CONFIG_LIBDIR: `${root}/usr/lib/${triple}/pkgconfig:${root}/usr/share/pkgconfig`,
  };
}

/** This machine's npm and Node headers (Node's own prefix, where its installer put them). */
function hostNode() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const npm = path.join(prefix, 'lib', 'node_modules', 'npm');
  const headers = path.join(prefix, 'include', 'node');
  for (const [what, dir] of [['npm', npm], ['Node headers', headers]]) {
    if (!fs.existsSync(dir)) throw new TesthostError('TESTHOST_NO_HOST_NPM', `No ${what} at ${dir} (beside ${process.execPath}): the VM's guest gets this machine's`);
  }
  return { npm, headers, version: JSON.parse(fs.readFileSync(path.join(npm, 'package.json'), 'utf8')).version };
}

/**
 * A directory tree to lay over the VM's root: /opt/rustless/node_modules built for the root's
 * architecture, and npm with Node's headers under /usr/local (cached by root and lockfile).
 * @param {{ root: string, arch: string, repo: string, npmCache?: string, cacheDir?: string, log: Function }} opts
 * @returns {Promise<string>} the layer's top directory
 */
export async function guestNodeModules({ root, arch, repo, npmCache = path.join(os.homedir(), '.npm'), cacheDir = CACHE_DIR, log }) {
  const host = hostNode();
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
  const lock = fs.readFileSync(path.join(repo, 'package-lock.json'));
  // What runs in the guest: dependencies only, none of the scripts (prepare needs TypeScript).
  const manifest = { name: pkg.name, version: pkg.version, type: pkg.type, dependencies: pkg.dependencies, optionalDependencies: pkg.optionalDependencies };
  const key = createHash('sha256').update(root).update(lock).update(JSON.stringify(manifest)).update(arch).update(host.version).digest('hex').slice(0, 16);
  const base = path.join(cacheDir, 'vm-node-modules', key);
  const layer = path.join(base, 'tree');
  if (fs.existsSync(path.join(base, 'ready'))) return layer;
  if (!fs.existsSync(path.join(npmCache, '_cacache'))) {
    throw new TesthostError('TESTHOST_NO_NPM_CACHE', `No npm cache at ${npmCache}: run npm ci on this machine first (the guest installs offline from a copy of it)`);
  }
  const t0 = Date.now();
  const tmp = `${base}.building-${process.pid}`;
  await fsp.rm(tmp, { recursive: true, force: true });
  const tree = path.join(tmp, 'tree');
  const work = path.join(tree, GUEST_APP_DIR);
  await fsp.mkdir(work, { recursive: true });
  await fsp.writeFile(path.join(work, 'package.json'), JSON.stringify(manifest, null, 2));
  await fsp.copyFile(path.join(repo, 'package-lock.json'), path.join(work, 'package-lock.json'));
  // npm and the headers, where a guest command finds them: /usr/local/bin/npm, nodedir /usr/local.
  const local = path.join(tree, 'usr', 'local');
  await fsp.mkdir(path.join(local, 'lib', 'node_modules'), { recursive: true });
  await fsp.mkdir(path.join(local, 'bin'), { recursive: true });
  await fsp.mkdir(path.join(local, 'include'), { recursive: true });
  await must(['cp', '-a', host.npm, path.join(local, 'lib', 'node_modules', 'npm')]);
  await must(['cp', '-a', host.headers, path.join(local, 'include', 'node')]);
  await fsp.symlink('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin', 'npm'));
  await fsp.symlink('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin', 'npx'));
  // npm's global config for Debian's node (prefix /usr): build native modules against /usr/local's headers, offline first.
  await fsp.mkdir(path.join(tree, 'usr', 'etc'), { recursive: true });
  await fsp.writeFile(path.join(tree, 'usr', 'etc', 'npmrc'), 'nodedir=/usr/local\nprefix=/usr/local\nprefer-offline=true\nfund=false\naudit=false\nupdate-notifier=false\n');
  log(`npm ci --offline of the guest's dependencies, native modules built for ${arch}`);
  const r = await sh(['npm', 'ci', '--offline', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: work,
    env: { ...process.env, npm_config_cache: npmCache, ...crossEnv(arch, root) },
  });
  if (r.exitCode !== 0) throw new TesthostError('TESTHOST_GUEST_NPM_FAILED', `npm ci for the ${arch} guest exited ${r.exitCode}:\n${(r.stderr + r.stdout).trim().split('\n').slice(-30).join('\n')}`);
  for (const f of ['package.json', 'package-lock.json']) await fsp.rm(path.join(work, f));
  await fsp.writeFile(path.join(tmp, 'ready'), `${new Date().toISOString()}\n`);
  await fsp.rm(base, { recursive: true, force: true });
  await fsp.rename(tmp, base);
  log(`guest node_modules built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return layer;
}
