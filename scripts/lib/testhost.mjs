// The rustless test host: a throwaway Debian trixie root booted with systemd as PID 1 in
// new PID+mount+UTS namespaces that share the host's network. See docs/testhost.md.
// Both the CLI (scripts/testhost.mjs) and the e2e tests import this module.
import { spawn } from 'node:child_process';
import { defaultLog, must, secs, sh, shellQuote as q, TesthostError } from './host-command.mjs';

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Bump when anything that shapes the cached root changes (debootstrap flags, post-setup). */
export const SCRIPT_VERSION = 1;
export const SUITE = 'trixie';
export const CACHE_DIR = process.env.RUSTLESS_TESTHOST_CACHE ?? '/var/cache/rustless-testhost';
export const RUN_BASE = process.env.RUSTLESS_TESTHOST_RUN ?? '/var/tmp/rustless-testhost';
/** What systemd sees in $container inside the guest. */
export const CONTAINER_ID = 'rustless-testhost';
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const PACKAGES = Object.freeze([
  'systemd',
  'systemd-sysv',
  'dbus',
  'podman',
  'crun',
  'netavark',
  'conmon',
  'catatonit',
  'curl',
  'ca-certificates',
  'nodejs',
  'rustc',
  'cargo',
  'libc6-dev',
  // HTTPS at the edge (install.mjs --public): Caddy, and Pebble as the ACME CA it gets its
  // certificate from; openssl makes Pebble's own certificate.
  'caddy',
  'pebble',
  'openssl',
  // Debian's sshd: the "Pi" a laptop reaches over ssh:// (test/e2e/laptop.test.ts)
  'openssh-server',
  // crates the runner builds against offline, from /usr/share/cargo/registry (generated from runner/)
  ...cratePackages(),
]);

/** scripts/packages/crates.txt: the runner's crates as Debian packages, generated from runner/. */
export function cratePackages() {
  const file = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'packages', 'crates.txt');
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

export { sh, TesthostError };

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;


/** Rejects an instance name of either kind that would not make a safe run dir or cgroup name. */
export function checkName(name) {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TesthostError('TESTHOST_BAD_NAME', `Expected --name to match ${NAME_RE}, got ${JSON.stringify(name)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// create

/**
 * The Debian mirror this machine already uses (first non-security URI in its apt sources).
 * Never hard-coded: CI machines point at their own mirror or snapshot.
 */
export function detectMirror({ etc = '/etc/apt' } = {}) {
  const uris = [];
  const dir = path.join(etc, 'sources.list.d');
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .sort()
        .map((f) => path.join(dir, f))
    : [];
  for (const file of files.filter((f) => f.endsWith('.sources'))) {
    for (const stanza of fs.readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const field = (k) => stanza.match(new RegExp(`^${k}:\\s*(.+)$`, 'mi'))?.[1].trim();
      if (!/\bdeb\b/.test(field('Types') ?? '') || /^no$/i.test(field('Enabled') ?? '')) continue;
      const suites = (field('Suites') ?? '').split(/\s+/);
      if (suites.some((s) => /-security$|\/updates$/.test(s))) continue;
      for (const u of (field('URIs') ?? '').split(/\s+/)) if (u) uris.push(u);
    }
  }
  const lists = [path.join(etc, 'sources.list'), ...files.filter((f) => f.endsWith('.list'))];
  for (const file of lists.filter((f) => fs.existsSync(f))) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = line.match(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
      if (m && !/-security$|\/updates$/.test(m[2])) uris.push(m[1]);
    }
  }
  // Prefer a Debian archive over third-party repos (nodesource and the like).
  const mirror = uris.find((u) => /\/debian\/?$/.test(u)) ?? uris[0];
  if (!mirror) {
    throw new TesthostError('TESTHOST_NO_MIRROR', `No Debian mirror found in ${etc}/sources.list or ${dir}/*.sources; pass --mirror`);
  }
  return mirror.replace(/\/+$/, '');
}

export function cacheKey({ packages = PACKAGES, suite = SUITE } = {}) {
  const text = JSON.stringify({ v: SCRIPT_VERSION, suite, packages: [...packages].sort() });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Where the cached root for these packages lives (it may not exist yet). */
export function cachedRootPath(opts = {}) {
  return path.join(opts.cacheDir ?? CACHE_DIR, cacheKey(opts), 'root');
}

/**
 * Build (or reuse) the cached trixie root. Built in a temp dir and renamed into place, so a
 * half-built root is never used.
 * @returns {Promise<{root: string, key: string, cached: boolean, seconds: number}>}
 */
export async function create({ packages = PACKAGES, suite = SUITE, mirror, cacheDir = CACHE_DIR, force = false, log = defaultLog } = {}) {
  const t0 = Date.now();
  const key = cacheKey({ packages, suite });
  const keyDir = path.join(cacheDir, key);
  const root = path.join(keyDir, 'root');
  if (!force && fs.existsSync(path.join(root, 'etc/rustless-testhost.json'))) {
    log(`cached root ${root} (key ${key})`);
    return { root, key, cached: true, seconds: 0 };
  }
  const users = list().filter((i) => i.running && readState(i.name)?.root === root);
  if (force && users.length) {
    // A running overlay guest uses this root as its lowerdir: replacing it under it breaks it.
    throw new TesthostError(
      'TESTHOST_ROOT_IN_USE',
      `Cannot rebuild ${root}: test hosts ${users.map((u) => u.name).join(', ')} run on it; take them down first`,
    );
  }
  if (!fs.existsSync('/usr/sbin/debootstrap')) {
    log('installing debootstrap');
    await must(['apt-get', 'install', '-y', '--no-install-recommends', 'debootstrap'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  mirror ??= detectMirror();
  await fsp.mkdir(keyDir, { recursive: true });
  const debs = path.join(cacheDir, 'debs');
  await fsp.mkdir(debs, { recursive: true });
  // Half-built roots of creates that died (their pid is in the name) are removed here.
  for (const d of fs.readdirSync(keyDir).filter((d) => d.startsWith('building-'))) {
    const pid = Number(d.split('-')[1]);
    if (!procStartTime(pid)) await fsp.rm(path.join(keyDir, d), { recursive: true, force: true });
  }
  const tmp = await fsp.mkdtemp(path.join(keyDir, `building-${process.pid}-`));
  // debootstrap's resolver ignores Provides, and librust-*-dev packages depend on virtual
  // feature packages (librust-syn-2+derive-dev...): those go through apt inside the new root.
  const viaApt = packages.filter((p) => p.startsWith('librust-'));
  const viaDebootstrap = packages.filter((p) => !viaApt.includes(p));
  log(`debootstrap ${suite} from ${mirror} into ${tmp} (${viaDebootstrap.length} extra packages)`);
  const t1 = Date.now();
  const argv = ['debootstrap', '--variant=minbase', `--include=${viaDebootstrap.join(',')}`, `--cache-dir=${debs}`, suite, tmp, mirror];
  const r = await sh(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.exitCode !== 0) {
    const logFile = path.join(tmp, 'debootstrap/debootstrap.log');
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
    await fsp.rm(tmp, { recursive: true, force: true });
    throw new TesthostError(
      'TESTHOST_DEBOOTSTRAP_FAILED',
      `debootstrap exited ${r.exitCode}:\n${(r.stderr + r.stdout).trim().split('\n').slice(-20).join('\n')}\n${tail}`,
    );
  }
  log(`debootstrap done in ${secs(t1)} s`);
  if (viaApt.length) {
    const t2 = Date.now();
    log(`apt-get install ${viaApt.length} packages in the new root`);
    await aptInstall(tmp, { mirror, suite, packages: viaApt, debs }).catch(async (err) => {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw err;
    });
    log(`apt-get done in ${secs(t2)} s`);
  }
  await setupRoot(tmp, { mirror, suite, key });
  if (fs.existsSync(root)) await fsp.rename(root, `${root}.old-${process.pid}`);
  await fsp.rename(tmp, root);
  await fsp.rm(`${root}.old-${process.pid}`, { recursive: true, force: true });
  const seconds = Number(secs(t0));
  log(`root ready at ${root} in ${seconds} s`);
  return { root, key, cached: false, seconds };
}

// apt-get in a chroot of the new root (the .deb cache shared between roots).
export async function aptInstall(root, { mirror, suite, packages, debs }) {
  await fsp.writeFile(path.join(root, 'etc/apt/sources.list'), `deb ${mirror} ${suite} main\n`);
  await inChroot(root, ['apt-get update -q', `apt-get install -y -q --no-install-recommends ${packages.map(q).join(' ')}`], { debs });
}

/**
 * Shell commands in a chroot of a root being built, with proc, dev and the .deb cache mounted in
 * a private mount namespace (they vanish with it, whatever happens). A root of another
 * architecture runs through qemu-user's binfmt registration.
 */
export async function inChroot(root, commands, { debs, binds = [], tmpfs = [], env = {} } = {}) {
  const script = [
    'set -eu',
    `mount -t proc proc ${q(`${root}/proc`)}`,
    `mount --rbind /dev ${q(`${root}/dev`)}`,
    ...(debs ? [`mount --bind ${q(debs)} ${q(`${root}/var/cache/apt/archives`)}`] : []),
    ...binds.flatMap((b) => [`mkdir -p ${q(root + b.guest)}`, `mount --bind ${q(b.host)} ${q(root + b.guest)}`]),
    ...tmpfs.map((dir) => `mount -t tmpfs -o mode=1777 tmpfs ${q(root + dir)}`),
    ...commands.map((c) => `chroot ${q(root)} sh -c ${q(c)}`),
  ].join('\n');
  if (debs) await fsp.mkdir(path.join(debs, 'partial'), { recursive: true });
  await must(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], {
    env: { PATH: GUEST_PATH, DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', HOME: '/root', ...env },
  });
}

// One-time settings baked into the cached root.
async function setupRoot(root, { mirror, suite, key }) {
  const w = (p, text) => fsp.writeFile(path.join(root, p), text);
  await w('etc/apt/sources.list', `deb ${mirror} ${suite} main\n`);
  await w('etc/hostname', 'rustless-testhost\n');
  // An empty machine-id makes systemd generate a fresh one per boot, in /run.
  await w('etc/machine-id', '');
  // Nothing to load in a container; masking keeps is-system-running at "running".
  for (const unit of ['systemd-modules-load.service', 'systemd-networkd-wait-online.service']) {
    await fsp.rm(path.join(root, 'etc/systemd/system', unit), { force: true });
    await fsp.symlink('/dev/null', path.join(root, 'etc/systemd/system', unit));
  }
  // Debian enables Caddy with a site on :80; the guest shares the host's network, so Caddy runs
  // only when a test configures and starts it.
  await fsp.rm(path.join(root, 'etc/systemd/system/multi-user.target.wants/caddy.service'), { force: true });
  await fsp.mkdir(path.join(root, 'var/lib/containers'), { recursive: true });
  await fsp.rm(path.join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
  await fsp.mkdir(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  await w(
    'etc/rustless-testhost.json',
    JSON.stringify({ key, suite, mirror, version: SCRIPT_VERSION, packages: PACKAGES, builtAt: new Date().toISOString() }, null, 2) + '\n',
  );
}

// ---------------------------------------------------------------------------------------------
// boot

const GUEST_FILES = {
  // The guest shares the host's network namespace: a container on Podman's default bridge
  // network would make netavark add bridges and firewall rules to the host itself.
  '/etc/containers/containers.conf.d/50-rustless-testhost.conf': '[containers]\nnetns = "none"\n\n[engine]\nenv = ["PODMAN_IGNORE_CGROUPSV1_WARNING=1"]\n',
  // debootstrap writes no /etc/hosts, so `localhost` does not resolve (Caddy's admin endpoint
  // listens on localhost:2019); every installed system has these lines.
  '/etc/hosts': '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n',
};

export function runDirOf(name) {
  return path.join(RUN_BASE, name);
}
const stateFileOf = (name) => path.join(runDirOf(name), 'state.json');

function procStartTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readState(name) {
  try {
    return JSON.parse(fs.readFileSync(stateFileOf(name), 'utf8'));
  } catch {
    return null;
  }
}

function isAlive(state) {
  return !!state?.pid && procStartTime(state.pid) === state.startTime;
}

/** Names of the instances that have a run dir (running or left over). */
export function list() {
  if (!fs.existsSync(RUN_BASE)) return [];
  return fs
    .readdirSync(RUN_BASE)
    .filter((n) => NAME_RE.test(n))
    .map((name) => {
      const state = readState(name);
      return { name, pid: state?.pid ?? null, running: isAlive(state), runDir: runDirOf(name) };
    });
}

// Every cgroup hierarchy the host has mounted (v1 controllers, name=systemd, unified).
function cgroupMounts() {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 8 && /^cgroup2?$/.test(f[f.indexOf('-') + 1]))
    .map((f) => f[4]);
}

// The shell that runs as PID 1 of the new namespaces, mounts the guest's world, and execs systemd.
function bootScript({ runDir, lower, mode, binds, cgroup, target }) {
  const R = `${runDir}/merged`;
  const lines = [
    'set -eu',
    // Own cgroup per instance, so systemds of several instances never share system.slice.
    ...cgroupMounts().flatMap((m) => [
      `mkdir -p ${q(`${m}/${cgroup}`)}`,
      // A new v1 cpuset starts with no cpus/mems, and nothing can join it until it has some.
      ...(fs.existsSync(`${m}/cpuset.cpus`)
        ? [`cat ${q(`${m}/cpuset.cpus`)} > ${q(`${m}/${cgroup}/cpuset.cpus`)}`, `cat ${q(`${m}/cpuset.mems`)} > ${q(`${m}/${cgroup}/cpuset.mems`)}`]
        : []),
      `echo 0 > ${q(`${m}/${cgroup}/cgroup.procs`)}`,
    ]),
    'mount --make-rprivate /',
    mode === 'overlay'
      ? `mount -t overlay overlay -o ${q(`lowerdir=${lower},upperdir=${runDir}/upper,workdir=${runDir}/work`)} ${q(R)}`
      : `mount --bind ${q(`${runDir}/rootfs`)} ${q(R)}`,
    // Podman's overlay driver cannot put its upper dirs on overlayfs: give it a plain directory.
    `mount --bind ${q(`${runDir}/containers`)} ${q(`${R}/var/lib/containers`)}`,
    ...binds.flatMap((b) => [
      `mkdir -p ${q(R + b.guest)}`,
      `mount --rbind ${q(b.host)} ${q(R + b.guest)}`,
      ...(b.readOnly ? [`mount -o remount,bind,ro ${q(R + b.guest)}`] : []),
    ]),
    `mount -t proc proc ${q(`${R}/proc`)}`,
    `mount --rbind /sys ${q(`${R}/sys`)}`,
    `mount --rbind /dev ${q(`${R}/dev`)}`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs ${q(`${R}/dev/shm`)}`,
    // systemd writes its status to /dev/console: keep it in console.log, off the host console.
    `mount --bind ${q(`${runDir}/console.log`)} ${q(`${R}/dev/console`)}`,
    `mount -t tmpfs -o mode=755,nosuid,nodev tmpfs ${q(`${R}/run`)}`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs ${q(`${R}/tmp`)}`,
    `mkdir -p ${q(`${R}/run/systemd/system`)}`,
    `printf '%s\\n' '[Unit]' 'Description=rustless test host' 'Wants=systemd-journald.service dbus.socket' 'AllowIsolate=yes' > ${q(`${R}/run/systemd/system/${target}`)}`,
    `cd ${q(R)}`,
    'mkdir -p .oldroot',
    'pivot_root . .oldroot',
    'cd /',
    'umount -l /.oldroot',
    'rmdir /.oldroot',
    `exec env -i container=${CONTAINER_ID} PATH=${GUEST_PATH} LANG=C.UTF-8 /usr/lib/systemd/systemd --system --unit=${target}`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * Boot an instance of the test host. Never boots over the cached root: the guest gets an
 * overlay (or a copy) in its own run dir.
 * @param {object} [opts]
 * @param {string} [opts.name='default'] instance name (several can run at once)
 * @param {string} [opts.root] root to boot; defaults to the cached root (created if missing)
 * @param {'overlay'|'copy'} [opts.mode='overlay']
 * @param {{host: string, guest: string, readOnly?: boolean}[]} [opts.binds] host dirs to show inside
 * @param {number} [opts.timeoutMs=60000] how long to wait for systemd to be up
 * @param {(message: string) => unknown} [opts.log] where progress lines go
 * @param {object} [opts.createOpts] options for `create` when the root is not cached yet
 * @returns {Promise<Testhost>}
 */
export async function boot({ name = 'default', root, mode = 'overlay', binds = [], timeoutMs = 60_000, log = defaultLog, createOpts = {} } = {}) {
  checkName(name);
  if (!['overlay', 'copy'].includes(mode)) {
    throw new TesthostError('TESTHOST_BAD_MODE', `Expected mode "overlay" or "copy", got ${JSON.stringify(mode)}`);
  }
  for (const b of binds) {
    if (!path.isAbsolute(b?.host ?? '') || !path.isAbsolute(b?.guest ?? '') || !fs.existsSync(b.host)) {
      throw new TesthostError('TESTHOST_BAD_BIND', `Expected binds of {host, guest} absolute paths with an existing host path, got ${JSON.stringify(b)}`);
    }
  }
  const old = readState(name);
  if (isAlive(old)) {
    throw new TesthostError('TESTHOST_ALREADY_RUNNING', `Test host "${name}" is already running (pid ${old.pid}); run down first`);
  }
  // Leftovers of an instance that died without down.
  if (fs.existsSync(runDirOf(name))) await down({ name, log: () => {} });

  root ??= (await create({ log, ...createOpts })).root;
  const t0 = Date.now();
  const runDir = runDirOf(name);
  for (const d of ['upper', 'work', 'merged', 'containers']) await fsp.mkdir(path.join(runDir, d), { recursive: true });
  await fsp.writeFile(path.join(runDir, 'console.log'), '');
  if (mode === 'copy') {
    await must(['cp', '-a', '--reflink=auto', root, path.join(runDir, 'rootfs')]);
    log(`copied root in ${secs(t0)} s`);
  }
  // Per-boot guest config, written before the guest starts (into the overlay's upper dir).
  const guestRoot = mode === 'copy' ? path.join(runDir, 'rootfs') : path.join(runDir, 'upper');
  for (const [file, text] of Object.entries(GUEST_FILES)) {
    await fsp.mkdir(path.dirname(path.join(guestRoot, file)), { recursive: true });
    await fsp.writeFile(path.join(guestRoot, file), text);
  }
  const cgroup = `${CONTAINER_ID}-${name}`;
  const target = `${CONTAINER_ID}.target`;
  const script = bootScript({ runDir, lower: root, mode, binds, cgroup, target });
  await fsp.writeFile(path.join(runDir, 'boot.sh'), script);

  const out = fs.openSync(path.join(runDir, 'boot.log'), 'a');
  const child = spawn('unshare', ['--fork', '--pid', '--mount', '--uts', '--propagation', 'private', 'sh', path.join(runDir, 'boot.sh')], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { PATH: GUEST_PATH },
  });
  fs.closeSync(out);
  child.unref();
  const unsharePid = child.pid;
  const state = { name, unsharePid, pid: null, startTime: null, runDir, root, mode, binds, cgroup, bootedAt: new Date().toISOString() };
  await fsp.writeFile(stateFileOf(name), JSON.stringify(state, null, 2));

  const fail = async (msg) => {
    const bootLog = fs.readFileSync(path.join(runDir, 'boot.log'), 'utf8').trim().split('\n').slice(-20).join('\n');
    let diag = '';
    if (state.pid && isAlive(state)) {
      const host = new Testhost(state);
      diag = (await host.run('systemctl --failed --no-pager; journalctl --no-pager -n 40')).stdout;
    }
    await down({ name, log: () => {} });
    throw new TesthostError('TESTHOST_BOOT_FAILED', `${msg}\n--- boot.log\n${bootLog}\n--- systemctl --failed; journal tail\n${diag}`);
  };

  // The host-side PID of the guest's systemd is unshare's only child, once it has exec'd.
  const deadline = Date.now() + timeoutMs;
  while (!state.pid) {
    const [pid] = childrenOf(unsharePid);
    if (pid) {
      try {
        if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd') {
          state.pid = pid;
          state.startTime = procStartTime(pid);
        }
      } catch {}
    }
    if (state.pid) break;
    if (child.exitCode !== null || !procStartTime(unsharePid)) return fail('boot script exited before systemd started');
    if (Date.now() > deadline) return fail(`systemd did not start within ${timeoutMs} ms`);
    await sleep(20);
  }
  await fsp.writeFile(stateFileOf(name), JSON.stringify(state, null, 2));

  const host = new Testhost(state);
  let status = '';
  for (;;) {
    if (!isAlive(state)) return fail('systemd exited while booting');
    status = (await host.run(['systemctl', 'is-system-running'])).stdout.trim();
    if (status === 'running' || status === 'degraded') break;
    if (Date.now() > deadline) return fail(`systemd did not reach running/degraded within ${timeoutMs} ms (last: ${status || 'no answer'})`);
    await sleep(100);
  }
  log(`test host "${name}" up (${status}) in ${secs(t0)} s, systemd pid ${state.pid}`);
  return host;
}

/** A handle on a running instance, from its state file. */
export function attach(name = 'default') {
  checkName(name);
  const state = readState(name);
  if (!isAlive(state)) throw new TesthostError('TESTHOST_NOT_RUNNING', `Test host "${name}" is not running`);
  return new Testhost(state);
}

export class Testhost {
  constructor(state) {
    this.name = state.name;
    /** PID of the guest's systemd as the host sees it. */
    this.pid = state.pid;
    this.runDir = state.runDir;
    this.state = state;
  }

  /** The guest's root as the host sees it (through /proc, so it includes every guest mount). */
  get rootPath() {
    return `/proc/${this.pid}/root`;
  }

  /** Host path of a guest path. */
  hostPath(guestPath) {
    if (!path.isAbsolute(guestPath)) throw new TesthostError('TESTHOST_BAD_PATH', `Expected an absolute guest path, got ${JSON.stringify(guestPath)}`);
    return path.join(this.rootPath, guestPath);
  }

  nsenterArgv(cmd) {
    const argv = typeof cmd === 'string' ? ['/bin/sh', '-c', cmd] : cmd;
    return ['nsenter', '-t', String(this.pid), '-m', '-p', '-u', '-r', '-w', '--', ...argv];
  }

  guestEnv(env) {
    return { PATH: GUEST_PATH, HOME: '/root', LANG: 'C.UTF-8', TERM: process.env.TERM ?? 'dumb', ...env };
  }

  /**
   * Run a command inside (a string goes through /bin/sh -c). Never rejects on a non-zero exit.
   * @returns {Promise<{stdout: string, stderr: string, exitCode: number}>}
   */
  run(cmd, { input, env, timeoutMs } = {}) {
    return sh(this.nsenterArgv(cmd), { input, env: this.guestEnv(env), timeoutMs });
  }

  /** Like run() but rejects when the command fails. */
  async check(cmd, opts) {
    const r = await this.run(cmd, opts);
    if (r.exitCode !== 0) {
      throw new TesthostError(
        'TESTHOST_GUEST_COMMAND_FAILED',
        `${typeof cmd === 'string' ? cmd : cmd.join(' ')} exited ${r.exitCode} in test host "${this.name}":\n${r.stdout}${r.stderr}`,
      );
    }
    return r;
  }

  /** Run a command inside with the caller's stdio (for the CLI); resolves its exit code. */
  async exec(argv, { env } = {}) {
    const r = await sh(this.nsenterArgv(argv), { env: this.guestEnv(env), stdio: 'inherit' });
    return r.exitCode;
  }

  /** Copy a host file or directory to a guest path (parents created). */
  async copyIn(hostPath, guestPath) {
    const dest = this.hostPath(guestPath);
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    await must(['cp', '-a', '--no-target-directory', hostPath, dest]);
  }

  /** Write a file inside the guest. */
  async writeFile(guestPath, content, { mode } = {}) {
    const dest = this.hostPath(guestPath);
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    await fsp.writeFile(dest, content, mode ? { mode } : undefined);
  }

  readFile(guestPath, encoding = 'utf8') {
    return fsp.readFile(this.hostPath(guestPath), encoding);
  }

  /**
   * Bind-mount a host directory (or file) into the running guest, at guestPath (created if
   * missing). Uses open_tree + setns + move_mount, via perl (always on Debian: perl-base is
   * essential), because a plain mount inside the guest's namespace cannot see host paths.
   */
  async bindIn(hostPath, guestPath, { readOnly = false } = {}) {
    if (!path.isAbsolute(hostPath) || !fs.existsSync(hostPath)) {
      throw new TesthostError('TESTHOST_BAD_BIND', `Expected an existing absolute host path, got ${JSON.stringify(hostPath)}`);
    }
    const dest = this.hostPath(guestPath);
    if (fs.statSync(hostPath).isDirectory()) await fsp.mkdir(dest, { recursive: true });
    else if (!fs.existsSync(dest)) {
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await fsp.writeFile(dest, '');
    }
    const setns = { x64: 308, arm64: 268 }[process.arch];
    if (!setns) throw new TesthostError('TESTHOST_UNSUPPORTED', `bindIn knows no setns syscall number for ${process.arch}`);
    // open_tree(AT_FDCWD, src, OPEN_TREE_CLONE|AT_RECURSIVE|O_CLOEXEC); setns(CLONE_NEWNS);
    // move_mount(fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH): the same numbers on x64 and arm64.
    const perl = `my ($pid, $src, $dst) = @ARGV; my $empty = "";
my $fd = syscall(428, -100, $src, 1 | 0x8000 | 0x80000); die "open_tree: $!\n" if $fd < 0;
open(my $ns, "<", "/proc/$pid/ns/mnt") or die "open ns: $!\n";
syscall(${setns}, fileno($ns), 0x20000) == 0 or die "setns: $!\n";
syscall(429, $fd, $empty, -100, $dst, 4) == 0 or die "move_mount: $!\n";`;
    await must(['perl', '-e', perl, String(this.pid), hostPath, guestPath]);
    if (readOnly) await this.check(['mount', '-o', 'remount,bind,ro', guestPath]);
  }

  down(opts) {
    return down({ name: this.name, ...opts });
  }
}

// ---------------------------------------------------------------------------------------------
// down

function mountsUnder(dir) {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(dir + '/')));
}

async function waitGone(pid, startTime, ms) {
  const deadline = Date.now() + ms;
  while (procStartTime(pid) === startTime) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

async function rmCgroupTree(dir) {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await rmCgroupTree(path.join(dir, e.name));
  }
  for (let i = 0; i < 50; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if (err.code === 'ENOENT') return;
      // Processes still in it (a straggler of the guest): kill them and retry.
      try {
        for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {}
        }
      } catch {}
      await sleep(50);
    }
  }
  throw new TesthostError('TESTHOST_CGROUP_BUSY', `could not remove cgroup ${dir}`);
}

/**
 * Stop an instance: poweroff inside, SIGKILL if it lingers, remove its cgroups, mounts and run
 * dir. Idempotent: a name that is not running only gets its leftovers cleaned.
 * @param {{name?: string, timeoutMs?: number, log?: (message: string) => unknown}} [opts]
 * @returns {Promise<{stopped: boolean, killed: boolean, seconds: number}>}
 */
export async function down({ name = 'default', timeoutMs = 20_000, log = defaultLog } = {}) {
  checkName(name);
  const t0 = Date.now();
  const runDir = runDirOf(name);
  const state = readState(name);
  let stopped = false;
  let killed = false;
  if (isAlive(state)) {
    stopped = true;
    await sh(new Testhost(state).nsenterArgv(['systemctl', 'poweroff', '--no-block']), { env: { PATH: GUEST_PATH }, timeoutMs: 5000 });
    if (!(await waitGone(state.pid, state.startTime, timeoutMs))) {
      log(`systemd pid ${state.pid} still running after ${timeoutMs} ms: killing it`);
      killed = true;
      // Killing a PID namespace's init kills every process in it.
      try {
        process.kill(state.pid, 'SIGKILL');
      } catch {}
      await waitGone(state.pid, state.startTime, 5000);
    }
  }
  if (state?.unsharePid && procStartTime(state.unsharePid)) {
    // unshare exits with its child; give it a moment, then make sure.
    await sleep(50);
    try {
      process.kill(state.unsharePid, 'SIGKILL');
    } catch {}
  }
  for (const m of cgroupMounts()) await rmCgroupTree(path.join(m, `${CONTAINER_ID}-${name}`));
  // Mounts live in the guest's mount namespace and die with it; this only catches host leftovers.
  for (const m of mountsUnder(runDir).reverse()) await sh(['umount', '-l', m]);
  if (mountsUnder(runDir).length) throw new TesthostError('TESTHOST_MOUNT_BUSY', `mounts left under ${runDir}`);
  // --one-file-system: never follow a stray bind mount into host data.
  await sh(['rm', '-rf', '--one-file-system', runDir]);
  const seconds = Number(secs(t0));
  if (stopped) log(`test host "${name}" down in ${seconds} s${killed ? ' (killed)' : ''}`);
  return { stopped, killed, seconds };
}
