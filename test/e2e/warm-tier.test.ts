// The warm tier of the systemd backend, for real, in its own trixie test host (instance
// `e2e-warm`): an idle app is frozen by the gateway with the kernel's cgroup freezer (v1
// `freezer.state` here, the hierarchy this host has; then cgroup2's `cgroup.freeze` through
// `--freezer cgroup2`), keeps its memory and its process, is thawed by the next request, and is
// stopped after the frozen timeout, by the memory budget (longest-frozen first), or by real
// memory pressure on the machine (a process thrashing its page cache under a small memory
// limit). Requests racing a freeze must all succeed.
import t, { type Test } from 'tap';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { boot, down } from '../../scripts/lib/testhost.mjs';
import { freePort } from '../helpers/free-port.js';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { checkoutBinds, cleanShell, type Guest, type GuestResult } from '../helpers/guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'e2e-warm';
const SRC = '/src/rustless';
const IDLE_S = 2;
const FROZEN_S = 10;

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(20 * 60_000);

let host: Guest;
let port: number;
const fresh = new Agent({ pipelining: 0, headersTimeout: 30_000, bodyTimeout: 30_000 });

t.teardown(async () => {
  await fresh.close();
  await down({ name: NAME, log: () => {} });
});

function guest(cmd: string): Promise<GuestResult> {
  return host.run(cleanShell(cmd), { timeoutMs: 600_000 });
}

async function ok(tt: Test, cmd: string, message?: string): Promise<GuestResult> {
  const result = await guest(cmd);
  tt.equal(result.exitCode, 0, message ?? cmd, { stdout: result.stdout.slice(-3000), stderr: result.stderr.slice(-3000) });
  return result;
}

async function get(path: string): Promise<{ status: number; text: string; error?: string }> {
  try {
    const response = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: fresh });
    return { status: response.statusCode, text: await response.body.text() };
  } catch (error) {
    return { status: 0, text: '', error: String(error) };
  }
}

async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function app(name: string): Promise<any> {
  return JSON.parse((await guest('rustless ls --json')).stdout).find((entry: { name: string }) => entry.name === name);
}

/** The freezer files the gateway wrote for a frozen app (its record under /run/rustless/frozen). */
async function frozenRecord(name: string): Promise<{ kind: string; files: string[] } | undefined> {
  const result = await guest(`cat /run/rustless/frozen/${name}`);
  if (result.exitCode !== 0) return undefined;
  const files = result.stdout.split('\n').filter(Boolean).map((line) => line.split(' ')[0]!);
  return { kind: files.some((file) => file.endsWith('/cgroup.freeze')) ? 'cgroup2' : 'cgroup1', files };
}

/** What the kernel says of the app's freezer cgroups: `FROZEN`/`THAWED` (v1), `frozen 1`/`frozen 0` (cgroup2). */
async function kernelState(record: { kind: string; files: string[] }): Promise<string> {
  const file = record.kind === 'cgroup2' ? record.files[0]!.replace(/cgroup\.freeze$/, 'cgroup.events') : record.files[0]!;
  const text = (await guest(`cat ${file}`)).stdout;
  return record.kind === 'cgroup2' ? (/^frozen \d$/m.exec(text)?.[0] ?? text) : text.trim();
}

/** The runner's pid (conmon's child) and its resident memory in kB. */
async function runner(name: string): Promise<{ pid: number; rssKb: number }> {
  const main = (await guest(`systemctl show -p MainPID --value rustless-fn-${name}.service`)).stdout.trim();
  const pid = Number((await guest(`cat /proc/${main}/task/*/children`)).stdout.trim().split(/\s+/)[0]);
  const rss = /VmRSS:\s+(\d+)/.exec((await guest(`cat /proc/${pid}/status`)).stdout)?.[1];
  return { pid, rssKb: Number(rss) };
}

async function gatewayFlags(tt: Test, flags: string): Promise<void> {
  await ok(tt, `echo 'RUSTLESS_GATEWAY_FLAGS=${flags}' > /etc/rustless/gateway.env && systemctl restart rustless.service`);
}

t.test('boot the test host, install rust-less, deploy hello and hello2', async (t) => {
  // Not 8080: another suite's test host (they share this machine's network) may hold it, or free it while its gateway restarts.
  port = await freePort();
  host = (await boot({ name: NAME, binds: checkoutBinds(ROOT, SRC), log: (m: string) => t.comment(m) })) as Guest;
  await ok(t, `cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${port} --gateway-flags="--idle-timeout ${IDLE_S} --frozen-timeout ${FROZEN_S}"`, 'install.mjs');
  // A second app: the same crate under another name (its own build cache: a first build again).
  await ok(t, 'mkdir -p /root/apps && cp -r /src/rustless/runner/examples/hello /root/apps/hello && rm -rf /root/apps/hello/target && cp -r /root/apps/hello /root/apps/hello2 && sed -i \'s/^name = "hello"/name = "hello2"/; s#"/hello#"/hello2#g\' /root/apps/hello2/rustless.toml');
  await ok(t, 'rustless deploy /root/apps/hello', 'deploy hello');
  await ok(t, 'rustless deploy /root/apps/hello2', 'deploy hello2');
  t.equal((await get('/hello2/x')).status, 200, 'hello2 answers');
  await ok(t, 'systemd-analyze verify /etc/systemd/system/rustless.service', 'the gateway unit, with the freezer paths, passes systemd-analyze verify');
});

t.test('idle -> frozen (v1 freezer), memory and process kept -> thawed by a request -> stopped after the frozen timeout', async (t) => {
  t.equal((await get('/hello/a')).status, 200);
  const before = await runner('hello');
  t.ok(before.pid > 0, `runner pid ${before.pid}, ${before.rssKb} kB resident`);
  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the freeze');
  const record = (await frozenRecord('hello'))!;
  t.equal(record.kind, 'cgroup1', 'the v1 freezer, on this hybrid host');
  t.match(record.files[0], /\/sys\/fs\/cgroup\/freezer\/.*\/system\.slice\/rustless-fn-hello\.service\/freezer\.state$/, "a freezer cgroup of the app's own, at its unit's path");
  const inFreezer = (await guest(`cat ${record.files[0]!.replace(/freezer\.state$/, 'cgroup.procs')}`)).stdout.trim().split('\n');
  t.same(inFreezer, [String(before.pid)], "holding the runner alone (conmon, the unit's main process, stays out)");
  t.equal(await kernelState(record), 'FROZEN', 'the kernel says FROZEN');
  t.match((await guest(`grep State /proc/${before.pid}/status`)).stdout, /State:\s+D|State:\s+S/, 'the runner is still there');
  const frozen = await runner('hello');
  t.equal(frozen.pid, before.pid, 'same process');
  t.ok(frozen.rssKb >= before.rssKb * 0.9, `memory kept (${frozen.rssKb} kB resident)`);
  t.equal(await guest('systemctl is-active rustless-fn-hello.service').then((r) => r.stdout.trim()), 'active', 'the unit stays active');
  const listed = await app('hello');
  t.equal(listed.status, 'frozen', 'rustless ls says frozen');
  t.match(listed.runtime.detail, /frozen \(cgroup1 freezer\)/);
  const coldStarts = listed.stats.coldStarts;

  const t0 = performance.now();
  const reply = await get('/hello/thawed');
  const ms = performance.now() - t0;
  t.equal(reply.status, 200, 'a request thaws it and gets its answer');
  t.comment(`request to a frozen app, through the gateway: ${ms.toFixed(1)} ms`);
  t.ok(ms < 100, `answered in ${ms.toFixed(1)} ms (well under a cold start)`);
  t.equal(await kernelState(record), 'THAWED', 'the kernel says THAWED');
  t.equal((await runner('hello')).pid, before.pid, 'the same runner answered: no cold start');
  const after = await app('hello');
  t.equal(after.stats.coldStarts, coldStarts, 'no cold start counted');
  t.ok(after.stats.thaws >= 1, 'a thaw counted');

  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the next freeze');
  await eventually(async () => (await guest('systemctl is-active rustless-fn-hello.service')).stdout.trim() === 'inactive', (FROZEN_S + 10) * 1000, 'the stop after the frozen timeout');
  t.pass(`stopped after ${FROZEN_S} s frozen`);
  t.equal(await frozenRecord('hello'), undefined, 'no frozen record left');
  t.equal((await app('hello')).status, 'stopped');
  t.equal((await get('/hello/again')).status, 200, 'the next request cold-starts it');
});

/** Bursts timed around the idle timeout, so some land just before, during and after a freeze: none may fail. */
async function burstsAroundFreezes(t: Test): Promise<void> {
  let failed = 0;
  let sent = 0;
  const thawsBefore = (await app('hello')).stats.thaws;
  for (let round = 0; round < 10; round++) {
    await sleep(IDLE_S * 1000 - 300 + round * 60);
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => sleep(i * 5).then(() => get(`/hello/race${round}-${i}`))));
    sent += replies.length;
    failed += replies.filter((reply) => reply.status !== 200).length;
  }
  const thaws = (await app('hello')).stats.thaws - thawsBefore;
  t.comment(`${sent} requests in bursts around the idle timeout, ${thaws} thaws, ${failed} failed`);
  t.ok(thaws >= 3, 'bursts met frozen runners');
  t.equal(failed, 0, 'no request failed');
}

t.test('requests racing a freeze: none lost', burstsAroundFreezes);

t.test('a frozen app stops, redeploys and restarts the gateway cleanly', async (t) => {
  await get('/hello/a');
  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the freeze');
  const t0 = Date.now();
  await ok(t, 'rustless stop hello');
  t.ok(Date.now() - t0 < 5_000, `rustless stop of a frozen app: ${Date.now() - t0} ms (thawed first, not the stop timeout)`);
  t.equal((await guest('systemctl is-active rustless-fn-hello.service')).stdout.trim(), 'inactive');
  t.equal((await get('/hello/b')).status, 200);

  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the freeze');
  await ok(t, 'rustless deploy /root/apps/hello', 'a redeploy of a frozen app');
  t.equal((await get('/hello/c')).status, 200, 'the new build answers');

  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the freeze');
  const record = (await frozenRecord('hello'))!;
  const restarted = Date.now();
  await ok(t, 'systemctl restart rustless.service', 'a gateway restart');
  t.ok(Date.now() - restarted < 10_000, `the restart took ${Date.now() - restarted} ms: the stopping gateway thawed it before closing its connection to it`);
  t.equal(await kernelState(record), 'THAWED', 'the stopping gateway thawed it');
  t.equal((await get('/hello/d')).status, 200, 'the new gateway reaches it');

  // A gateway that dies without thawing: the next one thaws from the record in /run.
  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the freeze');
  await ok(t, 'systemctl kill -s KILL rustless.service; sleep 2; systemctl start rustless.service', 'the gateway is killed');
  t.equal(await kernelState(record), 'THAWED', 'the next gateway thawed it at start');
  t.equal((await get('/hello/e')).status, 200);

  // A stop by anyone but the gateway: the unit's own ExecStop= thaws it first.
  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 5) * 1000, 'the freeze');
  const stopped = Date.now();
  await ok(t, 'systemctl stop rustless-fn-hello.service', 'systemctl stop of a frozen app');
  t.ok(Date.now() - stopped < 5_000, `systemctl stop of a frozen app took ${Date.now() - stopped} ms (not the stop timeout)`);
  t.equal(await frozenRecord('hello'), undefined, 'the unit removed the record');
  t.equal((await get('/hello/f')).status, 200, 'the next request starts it again');
});

t.test('the memory budget stops the longest-frozen app', async (t) => {
  await ok(t, 'rustless stop hello; rustless stop hello2');
  await get('/hello/a');
  await get('/hello2/a');
  const memory = Number((await guest('systemctl show -p MemoryCurrent --value rustless-fn-hello.service')).stdout.trim());
  t.ok(memory > 0, `one runner holds ${memory} bytes`);
  // Room for one frozen app, not two (the flag is in whole MiB).
  const budgetMib = Math.ceil((memory * 1.2) / 2 ** 20);
  t.ok(budgetMib * 2 ** 20 < memory * 1.9, `a budget of ${budgetMib} MiB holds one runner, not two`);
  await gatewayFlags(t, `--idle-timeout ${IDLE_S} --frozen-timeout 600 --frozen-memory-mib ${budgetMib}`);
  t.equal((await get('/hello/b')).status, 200);
  await sleep(1_000);
  t.equal((await get('/hello2/b')).status, 200);
  await eventually(async () => (await frozenRecord('hello2')) !== undefined, (IDLE_S + 6) * 1000, 'hello2 frozen');
  await eventually(async () => (await guest('systemctl is-active rustless-fn-hello.service')).stdout.trim() === 'inactive', 10_000, 'hello stopped');
  t.pass(`with a budget of ${budgetMib} MiB, hello (frozen first) was stopped`);
  t.equal((await app('hello2')).status, 'frozen', 'hello2 stays frozen');
  t.match((await guest('journalctl -u rustless.service -o cat --no-pager')).stdout, /over the budget of .* MiB: stopping hello, frozen longest/);
});

t.test('real memory pressure stops a frozen app; without it, it stays frozen', async (t) => {
  await gatewayFlags(t, `--idle-timeout ${IDLE_S} --frozen-timeout 600 --frozen-pressure 8`);
  t.equal((await get('/hello/p')).status, 200);
  await eventually(async () => (await frozenRecord('hello')) !== undefined, (IDLE_S + 6) * 1000, 'hello frozen');
  const pressure = async (): Promise<number> => Number(/^some avg10=([\d.]+)/.exec((await guest('cat /sys/fs/cgroup/unified/memory.pressure /sys/fs/cgroup/memory.pressure 2>/dev/null')).stdout)?.[1]);
  t.ok((await pressure()) < 8, 'the machine is not short of memory to begin with');
  await sleep(5_000);
  t.equal((await app('hello')).status, 'frozen', 'and hello stays frozen through two checks');
  // Thrash: random reads over a file as large as the unit's memory limit (node's own heap takes
  // part of it), each page read twice, so it counts as working set when it is read back. Tasks
  // wait for memory, and the kernel says so (PSI) for the whole machine: 20% within 10 s here.
  await ok(t, `systemd-run --unit=rustless-thrash -p MemoryMax=48M /bin/sh -c 'head -c 48M /dev/urandom > /var/tmp/thrash && exec node ${SRC}/test/e2e/fixtures/thrash.mjs /var/tmp/thrash 60'`, 'a thrashing process, MemoryMax=48M');
  t.teardown(() => guest('systemctl stop rustless-thrash; systemctl reset-failed rustless-thrash; rm -f /var/tmp/thrash'));
  await eventually(async () => (await guest('systemctl is-active rustless-fn-hello.service')).stdout.trim() === 'inactive', 45_000, 'hello stopped under pressure');
  const journal = (await guest('journalctl -u rustless.service -o cat --no-pager')).stdout;
  const [, percent] = /memory pressure: tasks waited for memory ([\d.]+)% of the last 10 s \(limit 8%\): stopping hello, frozen longest/.exec(journal) ?? [];
  t.ok(Number(percent) >= 8, `stopped at ${percent}% memory pressure, and the gateway's journal says so`);
  await guest('systemctl stop rustless-thrash');
  t.equal((await get('/hello/after')).status, 200, 'the next request starts it again');
});

t.test('--freezer cgroup2: the same through cgroup.freeze, of a cgroup below the unit\'s, so that a stop by systemd thaws it', async (t) => {
  await gatewayFlags(t, `--idle-timeout ${IDLE_S} --frozen-timeout 600 --freezer cgroup2`);
  t.equal((await get('/hello/a')).status, 200);
  await eventually(async () => (await frozenRecord('hello'))?.kind === 'cgroup2', (IDLE_S + 6) * 1000, 'the cgroup2 freeze');
  const record = (await frozenRecord('hello'))!;
  t.match(record.files[0], /\/sys\/fs\/cgroup\/unified\/.*rustless-fn-hello\.service\/payload\/cgroup\.freeze$/, "the cgroup2 cgroup below the unit's");
  t.equal(await kernelState(record), 'frozen 1', 'cgroup.events: frozen 1');
  const unitDir = record.files[0]!.replace(/\/payload\/cgroup\.freeze$/, '');
  t.equal((await guest(`cat ${unitDir}/cgroup.procs`)).stdout.trim(), '', "no process left in the unit's own cgroup, where systemd starts ExecStop=");
  t.equal((await get('/hello/thawed')).status, 200, 'a request thaws it');
  t.equal(await kernelState(record), 'frozen 0', 'cgroup.events: frozen 0');
  // The first freeze moves the processes into payload; a request racing it must not be lost.
  await ok(t, 'rustless stop hello');
  await burstsAroundFreezes(t);

  // systemd starts the unit's thawing ExecStop= in the unit's own cgroup: frozen there, it would
  // never run, and a stop (a shutdown too) would wait for it until TimeoutStopSec=.
  await eventually(async () => (await kernelState(record)) === 'frozen 1', (IDLE_S + 6) * 1000, 'the next freeze');
  const since = (await guest('date +%s')).stdout.trim();
  const stopped = Date.now();
  await ok(t, 'timeout 60 systemctl stop rustless-fn-hello.service', 'systemctl stop of an app frozen through cgroup2 (the old freeze waited for ever)');
  t.ok(Date.now() - stopped < 5_000, `it took ${Date.now() - stopped} ms (not the stop timeout)`);
  t.equal((await guest('systemctl show -P Result rustless-fn-hello.service')).stdout.trim(), 'success', 'the stop succeeded, no timeout');
  t.match((await guest(`journalctl -u rustless-fn-hello.service --since @${since} --no-pager -o cat`)).stdout, /stopping on SIGTERM/, 'the runner was thawed first: it acted on SIGTERM');
  t.equal(await frozenRecord('hello'), undefined, 'the unit removed the record');
  t.equal((await get('/hello/b')).status, 200, 'the next request starts it again');
  await ok(t, 'rustless stop hello');
});
