// The rest of the systemd backend's checks on a Pi's terms (issue 16, section 2), beside
// test/vm/pi.test.ts, in the same 2 GiB arm64 VM: hello, todo and testbed built INSIDE the VM,
// then 20 quick cold starts with none failing, a secret and data that outlives the runner,
// `systemctl restart rustless` under keep-alive load losing nothing, `systemd-analyze security`
// as on x86, and a build under a Pi 5's 16K pages. `npm run test:vm` runs it; the default
// `npm test` does not: under emulation it takes over an hour (docs/testhost.md has the times).
// The emulated CPU is 20-50x slower than native: every time here is a timeout, never a goal.
import t, { type Test } from 'tap';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { keepDepsLayers } from '../../scripts/lib/vm/deps-cache.mjs';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { PiSuite, SRC, type VmSession, type PiBoot, type Reply, GUEST_PORT } from '../helpers/vm-guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = process.env.RUSTLESS_VM_BACKEND_INSTANCE ?? 'vm-backend';
// Idle apps freeze after 5 s and stay frozen up to 60 s (the warm tier), as a Pi's owner may set it.
const GATEWAY_FLAGS = '--idle-timeout 5 --frozen-timeout 60 --build-timeout 3600';

requireTestHostPrerequisites(t, ROOT);
// Builds inside an emulated VM: over an hour for the whole file.
t.setTimeout(180 * 60_000);

const pi = new PiSuite(t, NAME, ROOT);
let s: VmSession;

async function boot(tt: Test, options: PiBoot): Promise<void> {
  s = await pi.boot(tt, options);
}

t.test('boot a 2 GiB arm64 VM, install rust-less, deploy hello, todo and testbed built inside it', async (t) => {
  await boot(t, { keepDisk: false });
  const install = await s.install(t, GATEWAY_FLAGS);
  t.match(install.stdout, /ready for the systemd backend/, 'rustless doctor --backend systemd passes');
  await s.ok(t, `mkdir -p /root/apps && for app in hello todo testbed; do cp -r ${SRC}/runner/examples/$app /root/apps/$app; rm -rf /root/apps/$app/target; done`);
  for (const app of ['hello', 'todo', 'testbed']) {
    await s.deploy(t, app);
    if (app === 'hello') await keepDepsLayers(s.vm as never, 'arm64', { log: (m: string) => t.comment(m) });
  }
});

t.test('20 quick cold starts: none fails', async (t) => {
  // In the guest, one shell: a node CLI and an ssh round trip per stop would triple the time here.
  const rounds = await s.ok(t, `for i in $(seq 20); do systemctl stop rustless-fn-hello || exit 1; curl -s -o /dev/null -w '%{http_code}:%{time_total} ' http://127.0.0.1:${GUEST_PORT}/hello/cold$i; done`, '20 stops, each followed by a request', 3_600_000);
  const results = rounds.stdout.trim().split(' ').map((pair) => pair.split(':'));
  const times = results.map(([, time]) => Math.round(Number(time) * 1000)).sort((a, b) => a - b);
  t.comment(`20 cold starts through the gateway, emulated: p50 ${times[10]} ms, max ${times[19]} ms`);
  t.same(results.map(([code]) => code), Array(20).fill('200'), '20 of 20 cold starts answered');
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

t.test("16K pages (a Pi 5's kernel on a Cortex-A76): the runners built under 4K answer, and a rebuild inside deploys", async (t) => {
  await boot(t, { kernelFlavour: 'arm64-16k', kernelArgs: '', keepDisk: true });
  t.equal((await s.ok(t, 'getconf PAGESIZE')).stdout.trim(), '16384', '16K pages');
  t.match((await s.ok(t, 'uname -r')).stdout, /16k/, 'the arm64-16k kernel');
  await s.gatewayAnswers(t);
  t.same((await s.get('/hello/16k')).body, { message: 'hello 16k' }, 'hello, built under 4K pages, cold-starts and answers');
  t.equal((await s.get('/todos')).status, 200, 'todo too, with its data');
  await s.ok(t, `sed -i 's/"hello {}"/"hello, {}"/' /root/apps/hello/src/lib.rs && grep -q '"hello, {}"' /root/apps/hello/src/lib.rs`, 'a one-line change to hello');
  await s.deploy(t, 'hello');
  t.same((await s.get('/hello/16k')).body, { message: 'hello, 16k' }, 'the build made under 16K pages answers');
});
