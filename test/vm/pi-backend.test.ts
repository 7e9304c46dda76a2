// The systemd backend's own checks on a Pi's terms (issue 16, section 2): a whole arm64 Debian
// trixie machine under qemu (scripts/lib/vm/vm.mjs) with the unified cgroup v2 hierarchy and 2 GiB,
// rust-less installed by scripts/install.mjs, and hello, todo and testbed built INSIDE the VM by
// `rustless deploy`, as on a Pi. Then, from this machine through the forwarded port:
//   - a cold start through socket activation, and 20 quick cold starts with none failing;
//   - the warm tier through cgroup2's `cgroup.freeze`: systemd's view stays sane, a request
//     thaws, `systemctl stop` of a frozen app returns;
//   - an out-of-memory kill named with its limit, the limit in the app's own cgroup;
//   - `systemctl restart rustless` under keep-alive load, losing nothing;
//   - a secret, and data that outlives the runner;
//   - `systemd-analyze security` as on x86 (test/e2e/notify.test.ts, docs/systemd.md);
//   - the same disk with a Pi 5's 16K-page kernel: the runners built under 4K pages answer, and
//     a rebuild inside the 16K guest deploys.
// The emulated CPU is 20-50x slower than native: every time here is a timeout, never a goal.
import t, { type Test } from 'tap';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { bootVm, downVm } from '../../scripts/lib/vm/vm.mjs';
import { keepDepsLayers, keptDepsLayer } from '../../scripts/lib/vm/deps-cache.mjs';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { GUEST_PORT, SRC, VmSession, type Reply, type VmGuest } from '../helpers/vm-guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = process.env.RUSTLESS_VM_BACKEND_INSTANCE ?? 'vm-backend';
// Idle apps freeze after 5 s and stay frozen up to 60 s (the warm tier), as a Pi's owner may set it.
const GATEWAY_FLAGS = '--idle-timeout 5 --frozen-timeout 60 --build-timeout 3600';
const MIB = 1024 * 1024;

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(150 * 60_000);

let s: VmSession;

t.teardown(async () => {
  await s?.close();
  await downVm({ name: NAME, log: () => {} });
});

async function boot(tt: Test, options: { kernelFlavour?: string; keepDisk: boolean }): Promise<void> {
  if (options.keepDisk) await downVm({ name: NAME, keepDisk: true, log: (m: string) => tt.comment(m) });
  const vm = (await bootVm({
    name: NAME,
    arch: 'arm64',
    memory: 2048,
    cpus: 2,
    binds: [{ host: ROOT, guest: SRC, readOnly: true }],
    forwards: [{ guest: GUEST_PORT }],
    nodeModulesFrom: ROOT,
    // The shared dependencies an earlier VM's rust-less built (scripts/lib/vm/deps-cache.mjs).
    layers: [keptDepsLayer('arm64')].filter((layer) => layer !== undefined),
    timeoutMs: 900_000,
    log: (m: string) => tt.comment(m),
    ...options,
  })) as VmGuest;
  if (s) s.vm = vm;
  else s = new VmSession(t, vm);
}

async function deploy(tt: Test, app: string): Promise<void> {
  const t0 = Date.now();
  const result = await s.sh(`rustless deploy /root/apps/${app} 2>&1`, 3_600_000);
  tt.equal(result.exitCode, 0, `rustless deploy ${app}, built inside the VM (${((Date.now() - t0) / 1000).toFixed(0)} s)`, { output: result.stdout.slice(-6000) });
  tt.match(result.stdout, new RegExp(`${app} is live`), `${app} is live`);
  tt.comment(result.stdout.match(/peak build memory .*/g)?.join('; ') ?? 'no peak build memory line');
}

/** The files the gateway froze for an app (its record under /run/rustless/frozen), if it is frozen. */
async function frozenFiles(app: string): Promise<string[] | undefined> {
  const result = await s.vm.run(`cat /run/rustless/frozen/${app}`);
  return result.exitCode === 0 ? result.stdout.split('\n').filter(Boolean).map((line) => line.split(' ')[0]!) : undefined;
}

/** `frozen 1` or `frozen 0`: what cgroup2 itself says of the cgroup of a `cgroup.freeze` file. */
async function kernelFrozen(freezeFile: string): Promise<string> {
  const events = (await s.vm.run(`cat ${freezeFile.replace(/cgroup\.freeze$/, 'cgroup.events')}`)).stdout;
  return /^frozen \d$/m.exec(events)?.[0] ?? events;
}

t.test('boot a 2 GiB arm64 VM, install rust-less, deploy hello, todo and testbed built inside it', async (t) => {
  await boot(t, { keepDisk: false });
  const install = await s.install(t, GATEWAY_FLAGS);
  t.match(install.stdout, /ready for the systemd backend/, 'rustless doctor --backend systemd passes');
  await s.ok(t, `mkdir -p /root/apps && for app in hello todo testbed; do cp -r ${SRC}/runner/examples/$app /root/apps/$app; rm -rf /root/apps/$app/target; done`);
  const kept = keptDepsLayer('arm64') !== undefined;
  t.comment(kept ? 'the shared dependencies come from an earlier VM (scripts/lib/vm/deps-cache.mjs)' : 'no earlier VM kept the shared dependencies: the first deploy builds them, under emulation');
  for (const app of ['hello', 'todo', 'testbed']) {
    await deploy(t, app);
    if (app === 'hello') await keepDepsLayers(s.vm as never, 'arm64', { log: (m: string) => t.comment(m) });
  }
});

t.test('a cold start through socket activation: the runner in its unit, under its cgroup2 memory limit', async (t) => {
  t.equal(await s.unitActive('rustless-fn-hello.socket'), 'active', 'the app socket listens');
  await s.ok(t, 'rustless stop hello');
  t.equal(await s.unitActive('rustless-fn-hello.service'), 'inactive', 'the container waits for a request');
  const t0 = Date.now();
  const reply = await s.get('/hello/pi');
  t.comment(`cold start through the gateway: ${Date.now() - t0} ms (emulated)`);
  t.equal(reply.status, 200, 'the first request is answered');
  t.same(reply.body, { message: 'hello pi' });
  const status = await s.sh('systemctl status rustless-fn-hello --no-pager');
  t.equal(status.exitCode, 0, 'systemctl status rustless-fn-hello: active');
  t.match(status.stdout, /Active: active \(running\)/);
  const cgroup = await s.ok(t, 'd=/sys/fs/cgroup$(systemctl show -P ControlGroup rustless-fn-hello); cat $d/memory.max; for p in $(cat $d/cgroup.procs); do cat /proc/$p/comm; done');
  t.match(cgroup.stdout, new RegExp(`^${128 * MIB}\n(.*\n)*runner$`, 'm'), "the runner runs in the unit's cgroup2, memory.max 128M");
});

t.test('20 quick cold starts: none fails', async (t) => {
  const failures: Array<{ round: number; status: number; error?: string }> = [];
  const times: number[] = [];
  for (let round = 1; round <= 20; round++) {
    const stop = await s.vm.run('rustless stop hello');
    if (stop.exitCode !== 0) failures.push({ round, status: -1, error: `rustless stop: ${stop.stderr.trim()}` });
    const t0 = Date.now();
    const reply = await s.get(`/hello/cold${round}`);
    times.push(Date.now() - t0);
    if (reply.status !== 200 || reply.body?.message !== `hello cold${round}`) failures.push({ round, status: reply.status, ...(reply.error ? { error: reply.error } : {}) });
  }
  const sorted = [...times].sort((a, b) => a - b);
  t.comment(`20 cold starts through the gateway, emulated: p50 ${sorted[10]} ms, max ${sorted[19]} ms`);
  t.same(failures, [], '20 of 20 cold starts answered');
});

t.test('the warm tier on cgroup2: idle -> frozen with cgroup.freeze, systemd stays sane, a request thaws, systemctl stop returns', async (t) => {
  t.equal((await s.get('/hello/warm')).status, 200);
  await s.eventually(async () => (await frozenFiles('hello')) !== undefined, 60_000, 'the idle freeze');
  const files = (await frozenFiles('hello'))!;
  t.match(files[0], /^\/sys\/fs\/cgroup\/system\.slice\/rustless-fn-hello\.service\/(.*\/)?cgroup\.freeze$/, "cgroup2's cgroup.freeze in the app's unit");
  t.equal(await kernelFrozen(files[0]!), 'frozen 1', 'the kernel says frozen');
  const status = await s.sh('systemctl status rustless-fn-hello --no-pager');
  t.equal(status.exitCode, 0, 'systemctl status of a frozen app returns, active');
  t.match(status.stdout, /Active: active/, 'systemd still sees it active');
  t.match((await s.appInfo('hello')).runtime.detail, /frozen \(cgroup2/, 'rustless ls says frozen');

  const t0 = Date.now();
  const reply = await s.get('/hello/thawed');
  t.comment(`thaw through the gateway: ${Date.now() - t0} ms (emulated)`);
  t.equal(reply.status, 200, 'a request thaws it and is answered');
  t.same(reply.body, { message: 'hello thawed' });
  t.equal(await kernelFrozen(files[0]!), 'frozen 0', 'the kernel says thawed');

  await s.eventually(async () => (await frozenFiles('hello')) !== undefined, 60_000, 'the next freeze');
  const stopped = Date.now();
  const stop = await s.sh('systemctl stop rustless-fn-hello', 120_000);
  t.equal(stop.exitCode, 0, `systemctl stop of a frozen app returns (${Date.now() - stopped} ms)`);
  t.equal(await s.unitActive('rustless-fn-hello.service'), 'inactive', 'and it is stopped');
  t.equal((await s.get('/hello/after-stop')).status, 200, 'the next request cold-starts it');
});

t.test('an out-of-memory kill is named with its limit; the limit holds', async (t) => {
  t.equal((await s.get('/version')).status, 200, 'testbed answers');
  const hog = await s.get('/hog');
  t.equal(hog.status, 502, 'the request that ran past the memory limit fails');
  t.match(hog.body, { error: { code: 'RUSTLESS_RUNNER_DIED', message: /out-of-memory killer \(out of memory: the limit is 128M\)/ } }, 'its error names the limit');
  await s.eventually(async () => (await s.appInfo('testbed')).runtime.lastExit?.reason === 'oom-kill', 60_000, 'the out-of-memory exit in rustless ls');
  t.match((await s.appInfo('testbed')).runtime.lastExit, { reason: 'oom-kill', memoryLimit: '128M' }, 'rustless ls names the kill and the limit');
  const kernel = await s.ok(t, 'journalctl -k --no-pager -o cat | grep -i "memory cgroup out of memory" | tail -1');
  t.match(kernel.stdout, /Memory cgroup out of memory/i, "the kernel's memory cgroup did the kill (the limit is enforced, not only set)");
  t.equal((await s.get('/version')).status, 200, 'the next request is served');
});

t.test('a secret, and data that outlives the runner', async (t) => {
  await s.ok(t, "printf '%s' 'pi-secret' | rustless secret set testbed TESTBED_TOKEN", 'rustless secret set');
  t.same((await s.get('/config/secret/TESTBED_TOKEN')).body, { name: 'TESTBED_TOKEN', value: 'pi-secret' }, 'the runner reads it');
  const created = await s.call('POST', '/todos', { title: 'outlive the runner' });
  t.equal(created.status, 201, 'a todo is created');
  await s.ok(t, 'rustless stop todo');
  t.same((await s.get('/todos')).body, [created.body], 'after a stop and a cold start it is there');
});

/** Keep-alive clients (one connection each) and fresh-connection clients around a gateway restart. */
async function restartUnderLoad(t: Test): Promise<{ sent: number; lost: Reply[]; restartMs: number }> {
  const agents = Array.from({ length: 4 }, () => new Agent({ connections: 1, pipelining: 1, headersTimeout: 180_000, bodyTimeout: 180_000 }));
  t.teardown(() => Promise.all(agents.map((agent) => agent.close())));
  let done = false;
  let restartMs = 0;
  const restarting = (async () => {
    await sleep(2000);
    const t0 = Date.now();
    await s.ok(t, 'systemctl restart rustless', 'systemctl restart rustless', 300_000);
    restartMs = Date.now() - t0;
  })().finally(() => (done = true));
  const paths = ['/hello/keep', '/version', '/todos'];
  const send = async (path: string, agent: Agent): Promise<Reply> => {
    try {
      const response = await request(`${s.base}${path}`, { dispatcher: agent });
      return { status: response.statusCode, body: undefined, text: await response.body.text() };
    } catch (error) {
      return { status: 0, body: undefined, text: '', error: String(error) };
    }
  };
  const replies = await Promise.all([
    ...agents.map(async (agent, i) => {
      const got: Reply[] = [];
      let extra = 0;
      while (!done || extra++ < 10) got.push(await send(paths[i % paths.length]!, agent));
      return got;
    }),
    ...[0, 1].map(async () => {
      const got: Reply[] = [];
      let extra = 0;
      while (!done || extra++ < 5) got.push(await send('/version', s.fresh));
      return got;
    }),
  ]);
  await restarting;
  const all = replies.flat();
  return { sent: all.length, lost: all.filter((reply) => reply.status !== 200), restartMs };
}

t.test('systemctl restart rustless under keep-alive load: no request is lost', async (t) => {
  for (const app of ['hello', 'testbed', 'todo']) t.equal((await s.call('GET', app === 'hello' ? '/hello/x' : app === 'testbed' ? '/version' : '/todos')).status, 200, `${app} warm`);
  const result = await restartUnderLoad(t);
  t.comment(`restart took ${result.restartMs} ms (emulated); ${result.sent} requests around it`);
  t.ok(result.sent > 20, `${result.sent} requests around the restart`);
  t.same(result.lost.map((r) => ({ status: r.status, error: r.error })), [], 'none lost');
  t.equal(await s.unitActive('rustless.service'), 'active', 'the new gateway serves');
});

t.test('systemd-analyze security scores as on x86', async (t) => {
  const exposure = async (unit: string): Promise<number> => Number(/Overall exposure level for \S+: ([\d.]+)/.exec((await s.sh(`systemd-analyze security --no-pager ${unit}`)).stdout)?.[1]);
  const gateway = await exposure('rustless.service');
  const app = await exposure('rustless-fn-hello.service');
  t.comment(`systemd-analyze security on arm64: rustless.service ${gateway}, rustless-fn-hello.service ${app} (x86 test host: 1.8 and 5.9, docs/systemd.md)`);
  t.ok(gateway > 0 && gateway <= 1.8, `rustless.service: ${gateway} (at most 1.8, as on x86)`);
  t.ok(app > 0 && app <= 5.9, `rustless-fn-hello.service: ${app} (at most 5.9, as on x86)`);
});

t.test("16K pages (a Pi 5's kernel): the runners built under 4K answer, and a rebuild inside deploys", async (t) => {
  await boot(t, { kernelFlavour: 'arm64-16k', keepDisk: true });
  t.equal((await s.ok(t, 'getconf PAGESIZE')).stdout.trim(), '16384', '16K pages');
  await s.eventually(async () => (await s.unitActive('rustless.socket')) === 'active', 300_000, 'rustless.socket');
  t.same((await s.get('/hello/16k')).body, { message: 'hello 16k' }, 'hello, built under 4K pages, cold-starts and answers');
  t.equal((await s.get('/todos')).status, 200, 'todo too, with its data');
  await s.ok(t, `sed -i 's/"hello {}"/"hello, {}"/' /root/apps/hello/src/lib.rs && grep -q '"hello, {}"' /root/apps/hello/src/lib.rs`, 'a one-line change to hello');
  await deploy(t, 'hello');
  t.same((await s.get('/hello/16k')).body, { message: 'hello, 16k' }, 'the build made under 16K pages answers');
});
