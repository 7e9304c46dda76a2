// A gateway under Type=notify in a real systemd (the Debian trixie test host, instance
// "e2e-notify"): without the sd-notify binding it still becomes ready through systemd-notify
// (NotifyAccess=all, which install.mjs sets only for such an install) and keeps the watchdog fed; with no way to notify, it says so in one line
// at start instead of hanging silently in `activating`.
import t from 'tap';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { boot, down } from '../../scripts/lib/testhost.mjs';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { cleanShell, type Guest } from '../helpers/guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'e2e-notify';
const SRC = '/src/rustless';
// node_modules may be a link into another checkout: show its real path at the same place.
const MODULES = realpathSync(resolve(ROOT, 'node_modules'));
const INSIDE = MODULES.startsWith(`${ROOT}/`);
/** node_modules as the guest sees it: under SRC, or bound at its own path. */
const GUEST_MODULES = INSIDE ? `${SRC}/node_modules` : MODULES;
/** The binding a gateway started from SRC loads, and install.mjs copies for the service. */
const BINDING = `${GUEST_MODULES}/sd-notify`;

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(20 * 60_000);

let host: Guest;
t.teardown(() => down({ name: NAME, log: () => {} }));

const guest = (cmd: string) => host.run(cleanShell(cmd), { timeoutMs: 120_000 });

/** `systemd-run` of the gateway as a Type=notify unit, with extra properties. */
function gatewayUnit(unit: string, properties: string[], flags = ''): string {
  const props = ['Type=notify', 'NotifyAccess=all', `TemporaryFileSystem=${BINDING}`, ...properties].map((p) => `-p '${p}'`).join(' ');
  return `systemd-run ${flags} --unit=${unit} ${props} /usr/bin/node ${SRC}/dist/cli/main.js gateway --backend local --port 0 --listen 127.0.0.1 --state-dir /var/tmp/${unit} --cache-dir /var/tmp/${unit}-cache`;
}

t.test('boot the test host', async (t) => {
  host = (await boot({
    name: NAME,
    binds: [
      { host: ROOT, guest: SRC, readOnly: true },
      ...(INSIDE ? [] : [{ host: MODULES, guest: MODULES, readOnly: true }]),
    ],
    log: (m: string) => t.comment(m),
  })) as Guest;
  t.equal((await guest('systemctl is-system-running --wait; true')).exitCode, 0);
});

t.test('without the sd-notify binding: ready and watched through systemd-notify', async (t) => {
  // systemd-run returns when the start job is done: for Type=notify, on READY=1.
  const start = await guest(`timeout 60 ${gatewayUnit('rl-notify-fallback', ['WatchdogSec=4'])}`);
  t.equal(start.exitCode, 0, `the unit became ready: ${start.stderr}`);
  await sleep(9_000);
  const show = await guest('systemctl show -p ActiveState -p SubState -p StatusText -p NRestarts rl-notify-fallback');
  t.match(show.stdout, /ActiveState=active/, 'still active after two watchdog intervals');
  t.match(show.stdout, /NRestarts=0/);
  t.match(show.stdout, /StatusText=\S+/, 'STATUS came through too');
  const journal = await guest('journalctl -u rl-notify-fallback --no-pager -o cat');
  t.match(journal.stdout, /notifying systemd through \/usr\/bin\/systemd-notify/, 'the binding was hidden: the fallback did it');
  t.notMatch(journal.stdout, /cannot notify systemd/);
  t.notMatch(journal.stdout, /watchdog timeout/i);
  await guest('systemctl stop rl-notify-fallback');
});

t.test('installed with scripts/install.mjs: NotifyAccess=main with the binding, all only without it', async (t) => {
  const port = 18000 + (process.pid % 1000);
  const installer = `node ${GUEST_MODULES}/zx/build/cli.js ${SRC}/scripts/install.mjs --port ${port}`;
  const install = await guest(`cd ${SRC} && ${installer}`);
  t.equal(install.exitCode, 0, `install.mjs: ${install.stdout}\n${install.stderr}`);
  t.match(install.stdout, /the gateway notifies systemd with the sd-notify binding/, 'install.mjs says how the gateway will notify');
  t.match(install.stdout, /ok\s+notify\s+READY=1 through/, 'rustless doctor --backend systemd checks it');
  t.equal((await guest('systemctl show -p NotifyAccess --value rustless.service')).stdout.trim(), 'main', 'only the gateway itself may notify');
  const score = Number(/Overall exposure level for rustless\.service: ([\d.]+)/.exec((await guest('systemd-analyze security rustless.service')).stdout)?.[1]);
  t.ok(score <= 1.8, `systemd-analyze security rustless.service: ${score} (at most 1.8)`);
  t.equal((await guest('timeout 60 systemctl start rustless.service')).exitCode, 0, 'READY=1 arrived through the binding');
  t.equal((await guest('systemctl is-active rustless.service')).stdout.trim(), 'active');

  // What issue 9 saw: node_modules without the binding (npm ci before libsystemd-dev). Install
  // from such a copy: install.mjs lets systemd-notify, a child process, notify.
  const without = await guest(`cd ${SRC} && unshare --mount sh -c 'mount -t tmpfs tmpfs ${BINDING} && ${installer}'`);
  t.equal(without.exitCode, 0, `install.mjs without the binding: ${without.stdout}\n${without.stderr}`);
  t.match(without.stdout, /the gateway notifies systemd with \/usr\/bin\/systemd-notify/);
  t.equal((await guest('systemctl show -p NotifyAccess --value rustless.service')).stdout.trim(), 'all', 'the drop-in lets the child notify');
  await guest('systemctl restart rustless.service');
  t.equal((await guest('systemctl is-active rustless.service')).stdout.trim(), 'active', 'READY=1 arrived through systemd-notify');
  t.match((await guest('journalctl -u rustless.service --no-pager -o cat')).stdout, /notifying systemd through \/usr\/bin\/systemd-notify/);

  const back = await guest(`cd ${SRC} && ${installer}`);
  t.equal(back.exitCode, 0, back.stderr);
  t.equal((await guest('systemctl show -p NotifyAccess --value rustless.service')).stdout.trim(), 'main', 'installed with the binding again: the drop-in is gone');
  await guest(`node ${GUEST_MODULES}/zx/build/cli.js ${SRC}/scripts/install.mjs --uninstall`);
});

t.test('with no way to notify: one line at start', async (t) => {
  const start = await guest(gatewayUnit('rl-notify-none', ['InaccessiblePaths=/usr/bin/systemd-notify', 'TimeoutStartSec=60'], '--no-block'));
  t.equal(start.exitCode, 0, start.stderr);
  let journal = '';
  const deadline = Date.now() + 30_000;
  while (!/cannot notify systemd/.test(journal) && Date.now() < deadline) {
    await sleep(500);
    journal = (await guest('journalctl -u rl-notify-none --no-pager -o cat')).stdout;
  }
  const lines = journal.split('\n').filter((line) => /cannot notify systemd/.test(line));
  t.equal(lines.length, 1, `one line says so:\n${journal}`);
  t.match(lines[0], /^rustless: NOTIFY_SOCKET is set \(Type=notify\) but this gateway cannot notify systemd: .*apt install libsystemd-dev, then node \S+\/scripts\/sd-notify-binding\.mjs/);
  t.match((await guest('systemctl show -p ActiveState rl-notify-none')).stdout, /ActiveState=activating/, 'systemd still waits for READY=1');
  await guest('systemctl stop rl-notify-none');
});
