#!/usr/bin/env zx
// A full card on a Pi: the arm64 VM a `scripts/power-cut.mjs --keep` run left (rust-less
// installed, apps deployed, its ledger of promises) boots, its root filesystem is filled to the
// last block (fallocate), and then: a deploy, a secret set, a function writing its data, a
// gateway restart and the journal running on. Each must fail with an error naming the cause and
// the place, the previous build must keep serving, the registry and every data file keep their
// last good content, nothing is left half-written. Then the space is freed and, with no other
// step, all of it must work again and every earlier promise hold (rig.verify). Prints a table;
// exits 1 if anything did not. docs/power-loss.md has a run.
//
//   npx zx scripts/full-card.mjs [--name power-cut] [--cpus 2] [--fill root|user] [--gateway-from-checkout]
//
// --fill root (the default) takes every block, root's reserve too: the harshest case, where even
// Podman (root) cannot make a container. --fill user fills it as a user (nobody), as functions,
// builds and people do; root's reserve (5% on ext4) stays, and with it the gateway's and
// Podman's room. --gateway-from-checkout puts this checkout's dist/ over the kept install (the
// gateway's code as in the checkout; runner/ unchanged, so no new shared dependencies).
import fs from 'node:fs';
import path from 'node:path';
import { PowerCutRig, REPO_ROOT, RUSTLESS } from './lib/power-cut/rig.mjs';

const name = String(argv.name ?? 'power-cut');
const fillAs = String(argv.fill ?? 'root');
if (!['root', 'user'].includes(fillAs)) fail(`Expected --fill to be root or user, got ${JSON.stringify(argv.fill)}`);
const ledgerFile = path.join('/var/tmp/rustless-power-cut', `${name}.json`);
if (process.getuid() !== 0) fail('run it as root: the VM test host needs it');
if (!fs.existsSync(ledgerFile)) fail(`no ledger at ${ledgerFile}: run scripts/power-cut.mjs --keep first`);

const STATE = '/var/lib/rustless';
const FILLS = '/var/lib/full-card-fill /var/lib/full-card-fill-rest /var/tmp/full-card-fill /var/tmp/full-card-fill-rest';
const TODOS = `${STATE}/data/todo/todos.json`;
const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

const rig = new PowerCutRig({ name, root: REPO_ROOT, cpus: Number(argv.cpus ?? 2), log: (line) => echo(line) });
rig.restore(JSON.parse(fs.readFileSync(ledgerFile, 'utf8')));
await rig.boot();
if (argv['gateway-from-checkout']) {
  await rig.vm.copyIn(path.join(REPO_ROOT, 'dist'), '/usr/local/lib/rustless/dist');
  // tsc does not make the command executable; the installer does.
  await rig.ok('chmod 0755 /usr/local/lib/rustless/dist /usr/local/lib/rustless/dist/cli/main.js && systemctl reset-failed rustless.service; systemctl restart rustless.service', 600_000);
}
// A run stopped while the card was full left it full: free it, and the apps come back by themselves.
await rig.ok(`rm -f ${FILLS}`);
const before = await rig.verify();
if (before.problems.length > 0) fail(`the kept disk does not pass the checks before the card is filled: ${before.problems.join('; ')}`);

const rows = [];
/** Records one check: what was done, whether it went as it must, what the user was told. */
const row = (what, ok, said) => rows.push({ what, ok, said: said.replace(/\s+/g, ' ').trim().slice(0, 240) });
const sum = async (file) => (await rig.vm.run(`sha256sum ${q(file)} | cut -c1-16`)).stdout.trim();
const strays = async () => (await rig.vm.run(`find ${STATE} /etc/containers/systemd -name '*.tmp' -o -name '.*.tmp' -o -name '*.tmp-*' | head -5`)).stdout.trim();
const helloMarker = async () => String((await rig.call('GET', '/hello/fc')).body?.message ?? '').replace(/^hello fc /, '');
const liveMarker = rig.markers.get(rig.live.hello);

// The source of the next hello build, changed while there is room to change it.
const marker = await rig.nextHelloSource();
// Fill: every block but 64 MiB with fallocate (the file's extent tree needs some; all of them
// failed with ENOSPC), then the rest with dd. As root: root's reserve too. As nobody: all but it.
const asFiller = fillAs === 'root' ? '' : 'setpriv --reuid=65534 --regid=65534 --clear-groups ';
const fillDir = fillAs === 'root' ? '/var/lib' : '/var/tmp';
const blocks = fillAs === 'root' ? '%f' : '%a';
await rig.ok(`${asFiller}fallocate -l $(( $(stat -f -c '${blocks} * %S' /) - 64 * 1024 * 1024 )) ${fillDir}/full-card-fill && (${asFiller}dd if=/dev/zero of=${fillDir}/full-card-fill-rest bs=4k 2>/dev/null; true) && sync`);
// ext4 keeps some blocks back for itself (up to 4096 clusters) that no one can fill: the test is
// that a write as the filler fails.
const probe = await rig.vm.run(`${asFiller}dd if=/dev/zero of=${fillDir}/full-card-probe bs=4k count=1 conv=fsync 2>&1; rm -f ${fillDir}/full-card-probe; stat -f -c '%f free blocks, %a for users' /`);
row(`the root filesystem filled as ${fillAs}`, /No space left/.test(probe.stdout), probe.stdout);
const registrySum = await sum(`${STATE}/rustless.db`);
const todosSum = await sum(TODOS);
const todosBefore = (await rig.call('GET', '/todos')).text;

const deploy = await rig.vm.run(`${RUSTLESS} deploy /root/apps/hello`, { timeoutMs: 1_800_000 });
row('rustless deploy', deploy.exitCode !== 0 && /no space left/i.test(deploy.stdout + deploy.stderr) && (await helloMarker()) === liveMarker, `exit ${deploy.exitCode}: ${deploy.stderr || deploy.stdout}; hello still answers ${await helloMarker()}`);

const secretBefore = (await rig.call('GET', '/config/secret/TESTBED_TOKEN')).body?.value;
const bigSecret = 'full-card-'.repeat(400);
const set = await rig.vm.run(`printf %s ${q(bigSecret)} | ${RUSTLESS} secret set testbed TESTBED_TOKEN`);
const secretAfter = (await rig.call('GET', '/config/secret/TESTBED_TOKEN')).body?.value;
// Filled as a user, the gateway (root) still has root's reserve: the secret is set, whole.
const setOk = fillAs === 'root' ? set.exitCode !== 0 && /no space left/i.test(set.stderr + set.stdout) && secretAfter === secretBefore : set.exitCode === 0 && secretAfter === bigSecret;
if (fillAs === 'user' && set.exitCode === 0) rig.secret = { value: bigSecret, pending: undefined, required: false };
row('rustless secret set', setOk, `exit ${set.exitCode}: ${set.stderr || set.stdout}; the secret kept its value: ${secretAfter === secretBefore}`);

const post = await rig.call('POST', '/todos', { title: 'x'.repeat(64 * 1024) });
row('todo writes its data (POST /todos)', post.status === 507 && post.body?.error?.code === 'NO_SPACE' && (await sum(TODOS)) === todosSum && (await rig.call('GET', '/todos')).text === todosBefore, `${post.status} ${post.text}`);

await rig.ok('systemctl restart rustless.service', 600_000);
const afterRestart = await rig.call('GET', '/hello/fc', undefined, 600_000);
const said = (await rig.vm.run("journalctl -b -u rustless.service -o cat --no-pager --since '-5min' | grep -iE 'space|could not' | tail -2")).stdout;
row('systemctl restart rustless', afterRestart.status === 200 && (await helloMarker()) === liveMarker, `hello ${afterRestart.status} ${afterRestart.text.slice(0, 80)}; the gateway logged: ${said || '(nothing about space)'}`);

await rig.ok(`seq 1 3000 | sed 's/^/full-card journal line /' | systemd-cat -t full-card && sleep 2`);
const journald = (await rig.vm.run('systemctl is-active systemd-journald; journalctl -b -u systemd-journald -o cat --no-pager | tail -2')).stdout;
const stillServes = (await rig.call('GET', '/hello/fc')).status === 200;
row('the journal runs on (3,000 lines)', journald.startsWith('active') && stillServes, `journald ${journald}; hello still answers: ${stillServes}`);

const left = await strays();
row('nothing half-written', left === '' && (await sum(`${STATE}/rustless.db`)) !== '' && (await sum(TODOS)) === todosSum, `temporary files: ${left || 'none'}; registry ${registrySum} -> ${await sum(`${STATE}/rustless.db`)}`);

// Free the space: everything works again, no other step.
await rig.ok(`rm -f ${FILLS} && sync`);
const redeploy = await rig.vm.run(`${RUSTLESS} deploy /root/apps/hello`, { timeoutMs: 3_600_000 });
if (redeploy.exitCode === 0) {
  const id = (await rig.appInfo('hello')).currentBuild;
  rig.markers.set(id, marker);
  rig.live.hello = id;
}
row('space freed: rustless deploy', redeploy.exitCode === 0 && (await helloMarker()) === marker, `exit ${redeploy.exitCode}; hello answers ${await helloMarker()}`);
const newSecret = `after-full-card-${Date.now()}`;
const reset = await rig.vm.run(`printf %s ${q(newSecret)} | ${RUSTLESS} secret set testbed TESTBED_TOKEN`);
if (reset.exitCode === 0) rig.secret = { value: newSecret, pending: undefined, required: false };
row('space freed: rustless secret set', reset.exitCode === 0 && (await rig.call('GET', '/config/secret/TESTBED_TOKEN')).body?.value === newSecret, `exit ${reset.exitCode} ${reset.stderr}`);
const title = `after-full-card-${Date.now()}`;
const posted = await rig.call('POST', '/todos', { title });
if (posted.status === 201) rig.acked.set(posted.body.id, title);
row('space freed: POST /todos', posted.status === 201, `${posted.status}`);
const after = await rig.verify();
row('space freed: every promise (rig.verify)', after.problems.length === 0, after.problems.join('; ') || 'all kept');
fs.writeFileSync(ledgerFile, JSON.stringify(rig.snapshot(), null, 2));
await rig.down({ keepDisk: true });

echo('\nfull card (the VM root filesystem filled):');
for (const r of rows) echo(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.what}\n      ${r.said}`);
process.exit(rows.every((r) => r.ok) ? 0 : 1);

function fail(message) {
  echo(`full-card: ${message}`);
  process.exit(2);
}
