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
//   npx zx scripts/full-card.mjs [--name power-cut] [--cpus 2]
import fs from 'node:fs';
import path from 'node:path';
import { PowerCutRig, REPO_ROOT, RUSTLESS } from './lib/power-cut/rig.mjs';

const name = String(argv.name ?? 'power-cut');
const ledgerFile = path.join('/var/tmp/rustless-power-cut', `${name}.json`);
if (process.getuid() !== 0) fail('run it as root: the VM test host needs it');
if (!fs.existsSync(ledgerFile)) fail(`no ledger at ${ledgerFile}: run scripts/power-cut.mjs --keep first`);

const STATE = '/var/lib/rustless';
const FILL = '/var/lib/full-card-fill';
const TODOS = `${STATE}/data/todo/todos.json`;
const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

const rig = new PowerCutRig({ name, root: REPO_ROOT, cpus: Number(argv.cpus ?? 2), log: (line) => echo(line) });
rig.restore(JSON.parse(fs.readFileSync(ledgerFile, 'utf8')));
await rig.boot();
// A run stopped while the card was full left it full: free it, and the apps come back by themselves.
await rig.ok(`rm -f ${FILL} ${FILL}-rest`);
const before = await rig.verify();
if (before.problems.length > 0) fail(`the kept disk does not pass the checks before the card is filled: ${before.problems.join('; ')}`);

const rows = [];
/** Records one check: what was done, whether it went as it must, what the user was told. */
const row = (what, ok, said) => rows.push({ what, ok, said: said.replace(/\s+/g, ' ').trim().slice(0, 240) });
const sum = async (file) => (await rig.vm.run(`sha256sum ${q(file)} | cut -c1-16`)).stdout.trim();
const strays = async () => (await rig.vm.run(`find ${STATE} /etc/containers/systemd -name '*.tmp' -o -name '.*.tmp' -o -name '*.tmp-*' | head -5`)).stdout.trim();
const helloMarker = async () => String((await rig.call('GET', '/hello/fc')).body?.message ?? '').replace(/^hello fc /, '');
const liveMarker = rig.markers.get(rig.live.hello);

// Fill: every free block (root's reserve too: the gateway runs as root) but 64 MiB, which the
// extent tree of so large a file needs (fallocate of all of them fails with ENOSPC), then the
// rest with dd until the disk is full.
await rig.ok(`fallocate -l $(( $(stat -f -c '%f * %S' /) - 64 * 1024 * 1024 )) ${FILL} && (dd if=/dev/zero of=${FILL}-rest bs=4k 2>/dev/null; true) && sync`);
const free = (await rig.ok(`stat -f -c %f /`)).trim();
row('the root filesystem filled (fallocate)', free === '0', `${free} free blocks`);
const registrySum = await sum(`${STATE}/rustless.db`);
const todosSum = await sum(TODOS);
const todosBefore = (await rig.call('GET', '/todos')).text;

const marker = await rig.nextHelloSource().catch((error) => `(the source could not be changed: ${error.message.slice(-100)})`);
const deploy = await rig.vm.run(`${RUSTLESS} deploy /root/apps/hello`, { timeoutMs: 1_800_000 });
row('rustless deploy', deploy.exitCode !== 0 && /no space left/i.test(deploy.stdout + deploy.stderr) && (await helloMarker()) === liveMarker, `exit ${deploy.exitCode}: ${deploy.stderr || deploy.stdout}; hello still answers ${await helloMarker()}`);

const secretBefore = (await rig.call('GET', '/config/secret/TESTBED_TOKEN')).body?.value;
const set = await rig.vm.run(`printf %s ${q('full-card-'.repeat(400))} | ${RUSTLESS} secret set testbed TESTBED_TOKEN`);
const secretAfter = (await rig.call('GET', '/config/secret/TESTBED_TOKEN')).body?.value;
row('rustless secret set', set.exitCode !== 0 && /no space left/i.test(set.stderr + set.stdout) && secretAfter === secretBefore, `exit ${set.exitCode}: ${set.stderr || set.stdout}; the secret kept its value: ${secretAfter === secretBefore}`);

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
await rig.ok(`rm -f ${FILL} ${FILL}-rest && sync`);
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
