// rust-less installed the way a Pi owner installs it (issue 16): from the package, not a
// checkout. `npm pack` here, the tarball copied into the Debian trixie test host (instance
// "e2e-pack"), `npm install -g` there, `sudo rustless install`, a deploy of hello built inside
// and a request to it. Before the deploy the gateway is shown a kernel without the memory
// controller (RUSTLESS_CGROUP_ROOT on a stand-in cgroup.controllers, as a stock Raspberry Pi OS
// has it), and must not claim a memory limit: install, doctor, journal, ls, ls --json and the
// build's log say so; `--enable-memory-cgroup` edits a Pi's cmdline.txt. The real kernel case
// is the VM suite's (cgroup_disable=memory).
import t, { type Test } from 'tap';
import { copyFile, mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { boot, down } from '../../scripts/lib/testhost.mjs';
import { freePort } from '../helpers/free-port.js';
import { npmPack } from '../helpers/npm-pack.js';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { cleanShell, type Guest, type GuestResult } from '../helpers/guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'e2e-pack';
const FAKE_CGROUP = '/etc/rustless-test-cgroup';
const PI_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(40 * 60_000);

let host: Guest;
let port: number;
const scratch = await mkdtemp(join(tmpdir(), 'rustless-pack-'));
t.teardown(async () => {
  await down({ name: NAME, log: () => {} });
  await rm(scratch, { recursive: true, force: true });
});

const guest = (cmd: string, timeoutMs = 300_000) => host.run(cleanShell(cmd), { timeoutMs });
async function ok(t: Test, cmd: string, what = cmd, timeoutMs?: number): Promise<GuestResult> {
  const result = await guest(cmd, timeoutMs);
  t.equal(result.exitCode, 0, `${what}\n${result.stdout}\n${result.stderr}`);
  return result;
}

t.test('npm pack makes a tarball with the built package, the runner, the units and the installer', async (t) => {
  const tarball = await npmPack(ROOT, join(scratch, 'pack'));
  t.equal(basename(tarball), `rustless-${VERSION}.tgz`);
  const files = (await execa('tar', ['tzf', tarball])).stdout.split('\n');
  for (const file of ['dist/cli/main.js', 'dist/backends/systemd/memory-controller.js', 'runner/Cargo.toml', 'runner/rustless-runner/src/lib.rs', 'runner/rustless/src/lib.rs', 'runner/examples/hello/rustless.toml', 'units/rustless.service', 'quadlets/rustless-fn.container', 'scripts/install.mjs', 'scripts/lib/sd-notify-binding.mjs', 'scripts/lib/memory-cgroup.mjs', 'scripts/packages/crates.txt']) {
    t.ok(files.includes(`package/${file}`), `the tarball has ${file}`);
  }
  t.notOk(files.some((f) => /^package\/(src|test|node_modules)\/|\/target\//.test(f)), 'no sources, tests, modules or cargo targets');
});

t.test('boot the test host with the tarball and this machine\'s npm', async (t) => {
  port = await freePort();
  // The test host has Node but not npm: this machine's npm (pure JavaScript) is bound in. Its
  // cache too (a copy), so the registry is asked little; and its CA file, when it has one
  // (a proxy's certificate, here).
  const npmDir = dirname(dirname(await realpath((await execa('sh', ['-c', 'command -v npm'])).stdout.trim())));
  const cache = join(scratch, 'npm-cache');
  await mkdir(cache);
  const hostCache = join(process.env.HOME ?? '/root', '.npm', '_cacache');
  if (existsSync(hostCache)) await execa('cp', ['-a', hostCache, join(cache, '_cacache')]);
  const cafile = (await execa('npm', ['config', 'get', 'cafile'], { reject: false, env: { ...process.env, NODE_OPTIONS: '' } })).stdout.trim();
  // Binds are of directories: the CA file goes in one of its own.
  if (existsSync(cafile)) {
    await mkdir(join(scratch, 'npm-ca'));
    await copyFile(cafile, join(scratch, 'npm-ca', 'ca.crt'));
  }
  const binds = [
    { host: join(scratch, 'pack'), guest: '/pack', readOnly: true },
    { host: npmDir, guest: '/opt/npm', readOnly: true },
    { host: cache, guest: '/root/.npm' },
    ...(existsSync(cafile) ? [{ host: join(scratch, 'npm-ca'), guest: '/etc/npm-ca', readOnly: true }] : []),
  ];
  host = (await boot({ name: NAME, binds, log: (m: string) => t.comment(m) })) as Guest;
  await ok(t, `printf '#!/bin/sh\\nexec node /opt/npm/bin/npm-cli.js "$@"\\n' > /usr/local/bin/npm && chmod +x /usr/local/bin/npm && npm --version`);
  if (existsSync(cafile)) await ok(t, 'npm config set --location=global cafile /etc/npm-ca/ca.crt');
});

t.test('what a Pi owner installs with apt to build the native modules', async (t) => {
  const started = Date.now();
  await ok(t, 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends g++ make python3 libnode-dev libsystemd-dev pkg-config >/dev/null', 'apt-get install', 600_000);
  t.comment(`apt-get install: ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

t.test('npm install -g of the tarball makes the rustless command, with both native modules', async (t) => {
  const started = Date.now();
  await ok(t, `cd /tmp && npm_config_nodedir=/usr npm install -g --prefer-offline --no-audit --no-fund /pack/rustless-${VERSION}.tgz`, 'npm install -g', 1_200_000);
  t.comment(`npm install -g: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  t.equal((await ok(t, 'rustless --version')).stdout.trim(), VERSION);
  const lib = (await ok(t, 'npm root -g')).stdout.trim();
  await ok(t, `cd ${lib}/rustless && node -e "require('better-sqlite3'); require('sd-notify')"`, 'better-sqlite3 and sd-notify load');
});

t.test('rustless install on a kernel without the memory controller says limits are off', async (t) => {
  await ok(t, `mkdir -p ${FAKE_CGROUP} && echo 'cpuset cpu io pids' > ${FAKE_CGROUP}/cgroup.controllers`);
  await ok(t, `mkdir -p /etc/systemd/system/rustless.service.d && printf '[Service]\\nEnvironment=RUSTLESS_CGROUP_ROOT=${FAKE_CGROUP}\\n' > /etc/systemd/system/rustless.service.d/test-cgroup.conf`);
  const install = await ok(t, `cd /tmp && RUSTLESS_CGROUP_ROOT=${FAKE_CGROUP} rustless install --port ${port}`, 'rustless install');
  const lib = (await ok(t, 'npm root -g')).stdout.trim();
  t.match(install.stdout, `package in ${lib}/rustless (where npm installed it)`, 'the package stays where npm put it');
  t.match(install.stdout, 'the gateway notifies systemd with the sd-notify binding');
  t.match(install.stdout, /MISSING\s+memory\s+the memory controller is off: \S+ lists cpuset cpu io pids .*MemoryMax= is accepted and limits nothing/);
  t.match(install.stdout, 'fix: append cgroup_enable=memory to the one line of /boot/firmware/cmdline.txt and reboot');
  t.match(install.stdout, 'rustless install: memory limits are OFF: the memory controller is off');
  t.match(install.stdout, 'Run this again with --enable-memory-cgroup (it appends cgroup_enable=memory to /boot/firmware/cmdline.txt), then reboot');
  t.match((await ok(t, 'systemctl cat rustless.service')).stdout, `ExecStart=/usr/bin/env node ${lib}/rustless/dist/cli/main.js gateway --backend systemd`);
  t.notOk((await guest('test -e /usr/local/lib/rustless')).exitCode === 0, 'nothing copied to /usr/local/lib/rustless');

  const withoutPi = await guest(`RUSTLESS_CGROUP_ROOT=${FAKE_CGROUP} rustless install --port ${port} --enable-memory-cgroup`);
  t.equal(withoutPi.exitCode, 1, 'no cmdline.txt: not a Pi');
  t.match(withoutPi.stdout, '--enable-memory-cgroup: /boot/firmware/cmdline.txt does not exist (this is not Raspberry Pi OS?)');
});

t.test('--enable-memory-cgroup edits a Pi\'s cmdline.txt once, and says to reboot', async (t) => {
  await ok(t, `mkdir -p /boot/firmware && echo '${PI_CMDLINE}' > /boot/firmware/cmdline.txt`);
  const first = await ok(t, `RUSTLESS_CGROUP_ROOT=${FAKE_CGROUP} rustless install --port ${port} --enable-memory-cgroup`);
  t.match(first.stdout, `--enable-memory-cgroup: /boot/firmware/cmdline.txt is now "${PI_CMDLINE} cgroup_enable=memory" (as it was: /boot/firmware/cmdline.txt.before-rustless). REBOOT to turn memory limits on`);
  t.equal((await ok(t, 'cat /boot/firmware/cmdline.txt')).stdout, `${PI_CMDLINE} cgroup_enable=memory\n`, 'one line');
  t.equal((await ok(t, 'cat /boot/firmware/cmdline.txt.before-rustless')).stdout, `${PI_CMDLINE}\n`);
  const second = await ok(t, `RUSTLESS_CGROUP_ROOT=${FAKE_CGROUP} rustless install --port ${port} --enable-memory-cgroup`);
  t.match(second.stdout, '/boot/firmware/cmdline.txt has cgroup_enable=memory already. REBOOT');
  t.equal((await ok(t, 'cat /boot/firmware/cmdline.txt')).stdout, `${PI_CMDLINE} cgroup_enable=memory\n`, 'unchanged');
  const pending = await ok(t, `RUSTLESS_CGROUP_ROOT=${FAKE_CGROUP} rustless install --port ${port}`);
  t.match(pending.stdout, 'memory limits are OFF until the next boot: /boot/firmware/cmdline.txt has cgroup_enable=memory already; reboot');
});

t.test('deploy hello from the package and call it: nothing claims a memory limit', async (t) => {
  const lib = (await ok(t, 'npm root -g')).stdout.trim();
  const started = Date.now();
  const deploy = await ok(t, `rustless deploy --verbose ${lib}/rustless/runner/examples/hello`, 'deploy hello', 900_000);
  t.comment(`deploy of hello: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  t.match(`${deploy.stdout}${deploy.stderr}`, /\(no network, MemoryMax=2G NOT enforced: no memory controller, CPUQuota=/, "the build's log says its limit holds nothing");
  t.equal((await ok(t, `curl -s 127.0.0.1:${port}/hello/pi`)).stdout, '{"message":"hello pi"}');

  const journal = (await ok(t, 'journalctl -u rustless.service --no-pager -o cat')).stdout;
  const lines = journal.split('\n').filter((line) => line.includes('memory is NOT limited'));
  t.equal(lines.length, 1, `one journal line at start:\n${journal}`);
  t.match(lines[0], /^rustless: memory is NOT limited: the memory controller is off: .* neither the apps' container\.memory nor the builds' MemoryMax=2G is enforced\. Fix: append cgroup_enable=memory/);

  const ls = (await ok(t, 'rustless ls')).stdout;
  t.match(ls, /^APP\s+STATUS\s+BUILD\s+MEMORY/);
  t.match(ls, /\nhello\s+\S+\s+#1\s+none\s/, 'no 128M in the MEMORY column');
  t.match(ls, '\nmemory is not limited: the memory controller is off');
  const app = JSON.parse((await ok(t, 'rustless ls --json')).stdout).find((a: { name: string }) => a.name === 'hello');
  t.match(app.memory, { limit: '128M', enforced: false, reason: /cgroup\.controllers lists cpuset cpu io pids/, fix: /cgroup_enable=memory/ });
});

t.test('with the memory controller (this kernel has the v1 one) ls shows the limit', async (t) => {
  await ok(t, 'rm /etc/systemd/system/rustless.service.d/test-cgroup.conf && systemctl daemon-reload && systemctl restart rustless.service');
  const ls = (await ok(t, 'rustless ls')).stdout;
  t.match(ls, /\nhello\s+\S+\s+#1\s+128M\s/);
  t.notMatch(ls, 'not limited');
  t.notMatch((await ok(t, 'journalctl -u rustless.service --no-pager -o cat _PID=$(systemctl show -p MainPID --value rustless.service)')).stdout, 'NOT limited', 'no line from this start');
  t.equal((await ok(t, `curl -s 127.0.0.1:${port}/hello/pi`)).stdout, '{"message":"hello pi"}');
});

t.test('uninstall: rustless install --uninstall, then npm uninstall -g', async (t) => {
  await ok(t, 'rustless install --uninstall');
  const lib = (await ok(t, 'npm root -g')).stdout.trim();
  t.ok((await guest(`test -e ${lib}/rustless/dist/cli/main.js`)).exitCode === 0, "the package is npm's to remove");
  t.notOk((await guest('test -e /etc/systemd/system/rustless.service')).exitCode === 0, 'the units are gone');
  await ok(t, 'npm uninstall -g rustless');
  t.notOk((await guest('command -v rustless')).exitCode === 0, 'the command is gone');
});
