// The systemd backend end to end, as a user runs it: a Debian trixie test host booted with
// systemd as PID 1, rust-less installed into it with scripts/install.mjs, apps deployed with
// `rustless deploy` inside it, and every HTTP call made from this machine through the
// socket-activated gateway to Podman containers that Quadlet units start on demand.
import t, { type Test } from 'tap';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
// Plain JavaScript, shared with scripts/testhost.mjs; Guest below types what is used of it.
import { boot, down } from '../../scripts/lib/testhost.mjs';
import { freePort } from '../helpers/free-port.js';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { checkoutBinds, cleanShell, type Guest, type GuestResult } from '../helpers/guest.js';
import { compiledCrates } from '../helpers/compiled-crates.js';

interface Reply {
  status: number;
  body: any;
  text: string;
}

const ROOT = resolve(import.meta.dirname, '..', '..');
// RUSTLESS_E2E_INSTANCE: another instance name, to run beside a run of this suite holding the usual one.
const NAME = process.env.RUSTLESS_E2E_INSTANCE ?? 'e2e-systemd';
const SRC = '/src/rustless';
// Idle apps are stopped at once here (no warm tier): test/e2e/warm-tier.test.ts has the frozen ones.
const IDLE_TIMEOUT_S = 4;

requireTestHostPrerequisites(t, ROOT);
// A first run may debootstrap the test host's root and compiles every dependency once.
t.setTimeout(25 * 60_000);

let host: Guest;
let port: number;
// No keep-alive: each request is a new connection, as most callers of a function make.
const fresh = new Agent({ pipelining: 0, headersTimeout: 60_000, bodyTimeout: 60_000 });

t.teardown(async () => {
  await fresh.close();
  await down({ name: NAME, log: () => {} });
});

function guest(cmd: string, options?: { input?: string; timeoutMs?: number }): Promise<GuestResult> {
  return host.run(cleanShell(cmd), options);
}

async function sh(cmd: string, options?: { input?: string; timeoutMs?: number }): Promise<GuestResult> {
  const result = await guest(cmd, options);
  t.comment(`guest$ ${cmd.length > 160 ? `${cmd.slice(0, 160)}...` : cmd} -> ${result.exitCode}`);
  return result;
}

async function ok(tt: Test, cmd: string, message?: string): Promise<GuestResult> {
  const result = await sh(cmd);
  tt.equal(result.exitCode, 0, message ?? cmd, { stdout: result.stdout.slice(-4000), stderr: result.stderr.slice(-4000) });
  return result;
}

async function get(path: string): Promise<Reply> {
  const response = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: fresh });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body, text };
}

/** A request that reports a connection error as status 0 instead of throwing. */
async function tryGet(path: string): Promise<Reply & { error?: string }> {
  try {
    return await get(path);
  } catch (error) {
    return { status: 0, body: undefined, text: '', error: String(error) };
  }
}

async function unitActive(unit: string): Promise<string> {
  return (await guest(`systemctl is-active ${unit}`)).stdout.trim();
}

async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

async function deploy(app: string): Promise<GuestResult> {
  const t0 = Date.now();
  const result = await sh(`rustless deploy /root/apps/${app}`);
  t.comment(`deploy ${app}: exit ${result.exitCode} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

async function appInfo(app: string): Promise<any> {
  const { stdout } = await guest('rustless ls --json');
  return JSON.parse(stdout).find((entry: { name: string }) => entry.name === app);
}

/**
 * Runs `workers` loops of requests to `path` until `during` settles, then `after` more rounds,
 * and returns every reply in the order each worker got them.
 */
async function loadWhile(path: string, during: Promise<unknown>, { workers = 4, after = 3 } = {}): Promise<Array<Array<Reply & { error?: string }>>> {
  let done = false;
  void during.finally(() => (done = true));
  return Promise.all(
    Array.from({ length: workers }, async () => {
      const replies: Array<Reply & { error?: string }> = [];
      let extra = 0;
      while (!done || extra++ < after) {
        replies.push(await tryGet(path));
        await sleep(20);
      }
      return replies;
    }),
  );
}


t.test('boot the test host and install rust-less with scripts/install.mjs', async (t) => {
  // The public port: 8080 unless something on this machine (which the guest shares) has it.
  // Beside another run (RUSTLESS_E2E_INSTANCE), never 8080: the other run's gateway frees it while it restarts.
  port = !process.env.RUSTLESS_E2E_INSTANCE && (await portFree(8080)) ? 8080 : await freePort();
  t.comment(`public port ${port}`);
  host = (await boot({ name: NAME, binds: checkoutBinds(ROOT, SRC), log: (m: string) => t.comment(m) })) as Guest;
  const install = await ok(t, `cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${port} --gateway-flags="--idle-timeout ${IDLE_TIMEOUT_S} --frozen-timeout 0 --access-log"`, 'install.mjs succeeds');
  t.match(install.stdout, /ready for the systemd backend/, 'rustless doctor --backend systemd passes');
  t.equal(await unitActive('rustless.socket'), 'active', 'rustless.socket listens');
  t.equal(await unitActive('rustless-admin.socket'), 'active', 'rustless-admin.socket listens');
  t.equal(await unitActive('rustless.service'), 'inactive', 'the gateway waits for its first connection');
  t.match((await ok(t, 'stat -c "%G %a" /run/rustless/admin.sock')).stdout, /^rustless 660/, 'admin socket: group rustless, 0660');
  await ok(t, 'systemd-analyze verify /etc/systemd/system/rustless.service /etc/systemd/system/rustless.socket /etc/systemd/system/rustless-admin.socket', 'the gateway units pass systemd-analyze verify');
  await ok(t, 'mkdir -p /root/apps && for app in hello testbed; do cp -r /src/rustless/runner/examples/$app /root/apps/$app; rm -rf /root/apps/$app/target; done');
});

t.test('deploy hello; the first call cold-starts its container', async (t) => {
  const result = await deploy('hello');
  t.equal(result.exitCode, 0, 'rustless deploy hello', { output: result.stdout + result.stderr });
  t.equal(await unitActive('rustless.service'), 'active', 'the admin socket started the gateway');
  t.equal(await unitActive('rustless-fn-hello.socket'), 'active', 'the app socket listens');
  t.equal(await unitActive('rustless-fn-hello.service'), 'inactive', 'the container waits for its first request');
  const unit = await ok(t, 'systemctl cat rustless-fn-hello.service');
  t.match(unit.stdout, /podman .*run .*--network none/, 'generated by Quadlet, no network');
  t.match(unit.stdout, /--read-only/);
  t.match(unit.stdout, /--cap-drop all/);
  t.match(unit.stdout, /no-new-privileges/);
  t.match(unit.stdout, /--cgroups=disabled/, 'the runner stays in the unit\'s cgroup');
  t.match(unit.stdout, /^MemoryMax=128M$/m, 'systemd holds the memory limit');
  t.match(unit.stdout, /^TasksMax=64$/m, 'and the task limit');

  const t0 = Date.now();
  const reply = await get('/hello/world');
  t.comment(`cold start through the gateway: ${Date.now() - t0} ms`);
  t.equal(reply.status, 200);
  t.same(reply.body, { message: 'hello world' });
  const status = await sh('systemctl status rustless-fn-hello --no-pager');
  t.equal(status.exitCode, 0, 'systemctl status rustless-fn-hello: active');
  t.match(status.stdout, /Active: active \(running\)/);
  t.match((await ok(t, 'systemctl show -p MemoryMax -p TasksMax rustless-fn-hello')).stdout, `MemoryMax=${128 * 1024 * 1024}\nTasksMax=64`, 'the unit carries the app\'s limits');
  // The kernel enforces them on the runner: it is in the unit's own memory cgroup (v1 here, cgroup2 on a unified host).
  const inUnit = await ok(t, 'cg=$(systemctl show -P ControlGroup rustless-fn-hello); d=/sys/fs/cgroup/memory$cg; [ -d $d ] || d=/sys/fs/cgroup$cg; cat $d/memory.limit_in_bytes $d/memory.max 2>/dev/null; for p in $(cat $d/cgroup.procs); do cat /proc/$p/comm; done');
  t.match(inUnit.stdout, new RegExp(`^${128 * 1024 * 1024}\n(.*\n)*runner$`, 'm'), 'the runner runs in the unit\'s memory cgroup, under its limit');
  await eventually(async () => /GET \/hello\/world/.test((await guest('journalctl -u rustless-fn-hello --no-pager -o cat')).stdout), 5_000, 'the runner log in the journal');
  t.pass('journalctl -u rustless-fn-hello has its log');
  t.match((await ok(t, 'rustless logs hello')).stdout, /GET \/hello\/world/, 'rustless logs reads the journal (per-request lines: the gateway runs with --access-log)');
  const journal = (await ok(t, 'journalctl -u rustless-fn-hello --no-pager -o cat')).stdout;
  t.notMatch(journal, /\n\n/, 'no blank line after each runner line');
  t.notMatch(journal, /container (create|init|start|died|remove) [0-9a-f]{64}/, 'no Podman event lines');
});

/** The attempts test/e2e/fixtures/hostile/build.rs makes; each must be reported, and blocked. */
const ESCAPES = [
  'root',
  'systemd-run',
  'systemd-private-socket',
  'dbus-system-bus',
  'admin-socket',
  'journal-socket',
  'gateway-tcp',
  'read-etc-shadow',
  'read-registry-db',
  'read-gateway-config',
  'read-other-app-sources',
  'write-etc',
  'write-shared-cache',
  'write-other-app-target',
  'poison-other-rlib',
  'write-shared-deps',
  'replace-shared-deps',
  'truncate-shared-deps',
  'delete-shared-deps',
  'plant-cargo-config',
  'read-other-app-output',
  'read-gateway-environ',
  'signal-gateway',
  'user-namespace',
  'fork-500',
];

/**
 * hello's code as another app, `hello2` on /hello2: a new app whose first build starts from the
 * shared dependencies. Without hello's serde dependency (its code derives nothing of serde's), so
 * an app that does not derive shows that it needs no dependencies of its own either.
 */
async function deployHello2(t: Test): Promise<{ sha256: string; output: string }> {
  await ok(t, `rm -rf /root/apps/hello2 && cp -r ${SRC}/runner/examples/hello /root/apps/hello2 && rm -rf /root/apps/hello2/target && sed -i 's/^name = "hello"/name = "hello2"/' /root/apps/hello2/Cargo.toml /root/apps/hello2/rustless.toml && sed -i 's#"/hello#"/hello2#' /root/apps/hello2/rustless.toml && sed -i '/^serde = /d' /root/apps/hello2/Cargo.toml`);
  const result = await sh('rustless deploy --verbose /root/apps/hello2');
  t.equal(result.exitCode, 0, 'deploy hello2', { output: (result.stdout + result.stderr).slice(-4000) });
  const build = (await appInfo('hello2')).currentBuild;
  const sha256 = (await ok(t, `sha256sum /var/lib/rustless/builds/${build}/runner | cut -d' ' -f1`)).stdout.trim();
  t.equal((await get('/hello2/x')).status, 200, 'hello2 answers');
  return { sha256, output: result.stdout + result.stderr };
}

/** Every file of the shared dependencies with its checksum, owner and mode, as one digest. */
const LAYER_DIGEST = 'cd /var/cache/rustless/deps && find . -printf "%p %U %m %s\\n" | sort | md5sum && find . -type f -exec md5sum {} + | sort | md5sum';

t.test('a new app builds from the shared dependencies, which are read-only and root\'s', async (t) => {
  const { output } = await deployHello2(t);
  const lines = output.split('\n').filter((line) => line.startsWith('rustless:'));
  t.match(lines[0], /^rustless: building with cargo 1\.\d+\.\d+ .* and rustc 1\.\d+\.\d+ .* in \/usr\/bin$/, 'the first line names the cargo and rustc');
  t.match(output, /^rustless: dependencies prebuilt by rust-less for this toolchain, crate source and target: \/var\/cache\/rustless\/deps\/[0-9a-f]{24} \(read-only\)$/m);
  t.match(output, /^rustless: this app's target directory starts as a copy of the shared dependencies/m);
  t.match(output, /^rustless: cargo -j \d \(\d CPUs?, MemAvailable [0-9.]+ [MG]iB, the build's limit 2\.0 GiB; 640 MiB per job\)$/m, 'the jobs follow the memory');
  t.match(output, /^rustless: peak build memory \d+(\.\d)? [MG]iB \(build; MemoryMax=2G\)$/m, 'the peak memory is in the build log');
  const compiled = compiledCrates(output);
  t.same(compiled, ['hello2', 'rustless-app-hello2'], 'only the app and its runner crate compile (an app without serde\'s derive, from the same shared dependencies)');
  t.match(output, /^ {2}build: \d+\/\d+ ready, 2 crates compiled, \d+ s$/m, 'deploy sums the build up: crates compiled, time spent');
  const layer = await ok(t, 'stat -c "%U %a" /var/cache/rustless/deps /var/cache/rustless/deps/*/target && find /var/cache/rustless/deps ! -user root | wc -l && find /var/cache/rustless/deps -perm /022 | wc -l');
  t.match(layer.stdout, /^root 755\nroot 755\n0\n0\n$/, 'owned by root, writable by no one else');
  await ok(t, 'rustless rm hello2');
});

t.test("a new rust-less's shared dependencies start from the old ones: only rust-less's own crates compile again", async (t) => {
  const old = (await ok(t, 'ls /var/cache/rustless/deps')).stdout.trim();
  t.match(old, /^[0-9a-f]{24}$/, 'one layer before');
  // runner/'s files and their times are in the key: a touched one (in the installed copy) is what an upgrade of rust-less looks like.
  await ok(t, 'touch /usr/local/lib/rustless/runner/rustless/src/lib.rs');
  const t0 = Date.now();
  const { output } = await deployHello2(t);
  t.comment(`deploy with a new layer from the old one: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.match(output, /^rustless: building the shared dependencies [0-9a-f]{24} first/m, 'a new key');
  t.match(output, new RegExp(`^rustless: starting from the shared dependencies in /var/cache/rustless/deps/${old} \\(same rustc\\)`, 'm'), 'its build starts from the old layer');
  const compiled = compiledCrates(output);
  t.ok(compiled.includes('rustless-runner'), 'the runner crate compiles again', { compiled });
  t.same(compiled.filter((name) => !/^(rustless(-|$|_)|hello2$)/.test(name)), [], 'no registry crate compiles again');
  const now = (await ok(t, 'ls /var/cache/rustless/deps')).stdout.trim();
  t.match(now, /^[0-9a-f]{24}$/, 'one layer after: the old one is removed');
  t.not(now, old);
  await ok(t, 'rustless rm hello2');
});

t.test('a hostile build.rs cannot leave the build sandbox; the honest app is untouched', async (t) => {
  const alone = await deployHello2(t);
  await ok(t, 'rustless rm hello2');
  await ok(t, `rm -rf /root/apps/hostile && cp -r ${SRC}/test/e2e/fixtures/hostile /root/apps/hostile && sed -i 's/const GATEWAY_PORT: u16 = 8080;/const GATEWAY_PORT: u16 = ${port};/' /root/apps/hostile/build.rs`);
  const helloTarget = '/var/cache/rustless/build/hello/target';
  const before = (await ok(t, `find ${helloTarget} -type f -newer /root/apps/hostile/build.rs | wc -l; ls -la --time-style=+%s ${helloTarget}/*/release/deps | md5sum`)).stdout;
  const layerBefore = (await ok(t, LAYER_DIGEST)).stdout;
  const result = await deploy('hostile');
  const output = result.stdout + result.stderr;
  t.not(result.exitCode, 0, 'the hostile build fails (on purpose, once it has reported)');
  t.match(output, /rustless-escape: report done/, 'its build script ran to the end');
  const attempts = new Map<string, { verdict: string; detail: string }>();
  for (const match of output.matchAll(/rustless-escape ([a-z0-9-]+): (blocked|ESCAPED) \((.*)\)$/gm)) attempts.set(match[1]!, { verdict: match[2]!, detail: match[3]! });
  for (const name of ESCAPES) {
    const attempt = attempts.get(name);
    t.ok(attempt, `${name}: attempted`);
    t.equal(attempt?.verdict, 'blocked', `${name}: blocked (${attempt?.detail ?? 'no report'})`);
  }
  t.match(attempts.get('fork-500')?.detail, /^\d+ of 500 processes started/, 'the task limit stopped the fork loop');
  t.equal((await sh('test -e /etc/rustless-escaped')).exitCode, 1, 'no file made on the host by systemd-run');
  t.equal((await sh(`find /var/cache/rustless /var/lib/rustless -name rustless-poison | grep -q .`)).exitCode, 1, 'no poison file anywhere');
  const after = (await ok(t, `find ${helloTarget} -type f -newer /root/apps/hostile/build.rs | wc -l; ls -la --time-style=+%s ${helloTarget}/*/release/deps | md5sum`)).stdout;
  t.equal(after, before, "hello's target directory is unchanged");
  t.equal((await ok(t, LAYER_DIGEST)).stdout, layerBefore, 'the shared dependencies are unchanged, file by file');
  const planted = ['/', '/var', '/var/cache', '/var/cache/rustless', '/var/cache/rustless/build', '/var/cache/rustless/deps'].map((dir) => `${dir === '/' ? '' : dir}/.cargo/config.toml`);
  t.equal((await sh(`ls ${planted.join(' ')}`)).exitCode, 2, `no cargo config planted where another app's build reads it (${planted.join(', ')})`);
  const after2 = await deployHello2(t);
  t.equal(after2.sha256, alone.sha256, 'an honest app built after the hostile one is the same binary as built alone');
  await ok(t, 'rustless rm hello2');
  t.equal((await ok(t, 'systemctl list-units --no-legend "rustless-build-*"')).stdout.trim(), '', 'no build unit is left running');
  t.equal((await get('/hello/still')).status, 200, 'hello still answers');
  t.equal((await sh('rustless ls --json | grep -q \\"hostile\\"')).exitCode, 0, 'the failed build is on record');
  await ok(t, 'rustless rm hostile');
  t.equal((await sh('test -e /var/cache/private/rustless/build/hostile')).exitCode, 1, 'rustless rm removes the build cache of the app');
});

t.test('an idle app is stopped; the socket stays; the next call cold-starts it', async (t) => {
  await eventually(async () => (await unitActive('rustless-fn-hello.service')) === 'inactive', (IDLE_TIMEOUT_S + 10) * 1000, 'the idle stop');
  t.pass(`stopped after its ${IDLE_TIMEOUT_S} s idle timeout`);
  t.equal(await unitActive('rustless-fn-hello.socket'), 'active', 'the socket still listens');
  const before = (await appInfo('hello')).stats.coldStarts;
  const reply = await get('/hello/again');
  t.equal(reply.status, 200);
  t.equal(await unitActive('rustless-fn-hello.service'), 'active', 'started again');
  const info = await appInfo('hello');
  t.equal(info.stats.coldStarts, before + 1, 'counted as a cold start');
  t.match(info.runtime.detail, /active \(running\)/);
});

t.test('50 concurrent first requests to a stopped app all succeed', async (t) => {
  await ok(t, 'rustless stop hello');
  t.equal(await unitActive('rustless-fn-hello.service'), 'inactive');
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => tryGet(`/hello/n${i}`)));
  t.same(
    replies.map((r) => r.status),
    Array(50).fill(200),
    'all 200',
  );
  t.same(
    replies.map((r) => r.body?.message),
    Array.from({ length: 50 }, (_, i) => `hello n${i}`),
  );
});

t.test('redeploying while requests run: none fails and answers switch to the new version', async (t) => {
  const first = await deploy('testbed');
  t.equal(first.exitCode, 0, 'deploy testbed v1', { output: first.stdout + first.stderr });
  t.same((await get('/version')).body, { version: 1 });

  await ok(t, `sed -i 's/pub const VERSION: u64 = 1;/pub const VERSION: u64 = 2;/' /root/apps/testbed/src/lib.rs`);
  const deploying = deploy('testbed');
  const perWorker = await loadWhile('/version', deploying);
  const result = await deploying;
  t.equal(result.exitCode, 0, 'deploy testbed v2', { output: result.stdout + result.stderr });
  const all = perWorker.flat();
  t.ok(all.length > 20, `${all.length} requests during the deploy`);
  t.same(all.filter((r) => r.status !== 200), [], 'every request succeeded');
  for (const replies of perWorker) {
    const versions = replies.map((r) => r.body?.version);
    const firstTwo = versions.indexOf(2);
    t.ok(firstTwo >= 0, 'the worker saw version 2');
    t.same(versions.slice(firstTwo).filter((v) => v !== 2), [], 'never version 1 again after version 2');
  }
  t.same((await get('/version')).body, { version: 2 });
  t.match((await ok(t, 'podman images --format "{{.Repository}}:{{.Tag}}"')).stdout, /localhost\/rustless-fn-testbed:\d+/, 'a FROM scratch image per build');
});

t.test('a broken build leaves the old version answering', async (t) => {
  await ok(t, `sed -i 's/pub const VERSION: u64 = 2;/pub const VERSION: u64 = "two";/' /root/apps/testbed/src/lib.rs`);
  const result = await deploy('testbed');
  t.not(result.exitCode, 0, 'deploy fails');
  t.match(result.stdout + result.stderr, /error\[E0308\]|mismatched types/, 'with the compiler errors');
  t.same((await get('/version')).body, { version: 2 }, 'version 2 still answers');
  await ok(t, `sed -i 's/pub const VERSION: u64 = "two";/pub const VERSION: u64 = 2;/' /root/apps/testbed/src/lib.rs`);
});

t.test('rollback goes back to the previous build image, and forth again', async (t) => {
  const v2 = (await appInfo('testbed')).currentBuild;
  const back = await ok(t, 'rustless rollback testbed');
  t.match(back.stderr, /now serves build #\d+/);
  const v1 = (await appInfo('testbed')).currentBuild;
  t.ok(v1 < v2, `build #${v2} -> #${v1}`);
  t.match((await ok(t, 'cat /etc/containers/systemd/rustless-fn-testbed.container')).stdout, new RegExp(`^Image=localhost/rustless-fn-testbed:${v1}$`, 'm'));
  t.same((await get('/version')).body, { version: 1 }, 'version 1 answers');
  await ok(t, `rustless rollback testbed --build ${v2}`);
  t.same((await get('/version')).body, { version: 2 }, 'version 2 answers again');
});

/**
 * Restarts the gateway `leadMs` after four keep-alive clients (each on one connection, sending
 * back to back) and two fresh-connection clients start, and returns every reply with what the
 * restart took. Keep-alive clients send 20 more requests each once it returned.
 */
async function restartUnderLoad(t: Test, leadMs: number): Promise<{ keepAlive: number; fresh: number; lost: Array<{ status: number; error?: string }>; restartMs: number; before: string; after: string }> {
  const mainPid = async (): Promise<string> => (await ok(t, 'systemctl show -p MainPID --value rustless.service')).stdout.trim();
  const before = await mainPid();
  let restartMs = 0;
  let restartAt = 0;
  const restarting = (async () => {
    await sleep(leadMs);
    restartAt = Date.now();
    await ok(t, 'systemctl restart rustless');
    restartMs = Date.now() - restartAt;
  })();
  const keepAlive = Array.from({ length: 4 }, () => new Agent({ connections: 1, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 }));
  t.teardown(() => Promise.all(keepAlive.map((agent) => agent.close())));
  let done = false;
  void restarting.finally(() => (done = true));
  const kept = await Promise.all(
    keepAlive.map(async (agent, i) => {
      const replies: Array<{ status: number; error?: string }> = [];
      let extra = 0;
      while (!done || extra++ < 20) {
        try {
          const response = await request(`http://127.0.0.1:${port}${i % 2 ? '/version' : '/hello/keep'}`, { dispatcher: agent });
          await response.body.text();
          replies.push({ status: response.statusCode });
        } catch (error) {
          replies.push({ status: 0, error: `${String(error)} at ${Date.now() - restartAt} ms into the restart` });
        }
      }
      return replies;
    }),
  );
  const fresh = (await loadWhile('/version', restarting, { workers: 2, after: 5 })).flat();
  const lost = [...kept.flat(), ...fresh].filter((r) => r.status !== 200).map((r) => ({ status: r.status, error: r.error }));
  return { keepAlive: kept.flat().length, fresh: fresh.length, lost, restartMs, before, after: await mainPid() };
}

t.test('systemctl restart rustless under keep-alive load: no request is lost, the old gateway is gone within seconds', async (t) => {
  const crashesBefore = (await ok(t, 'systemctl show -p NRestarts --value rustless.service')).stdout.trim();
  // Two ways a restart meets the gateway: serving warm apps, and while the load's first requests
  // wait for cold starts (it runs `systemctl start` through execa then, which once got the
  // gateway killed mid-drain by a second SIGTERM: docs/systemd.md, restarts).
  const rounds: Array<{ name: string; leadMs: number; setup?: () => Promise<unknown> }> = [
    { name: 'warm', leadMs: 500 },
    { name: 'cold starts under way', leadMs: 60, setup: () => ok(t, 'rustless stop hello && rustless stop testbed') },
  ];
  for (const round of rounds) {
    await round.setup?.();
    const result = await restartUnderLoad(t, round.leadMs);
    t.comment(`${round.name}: restart took ${result.restartMs} ms; ${result.keepAlive} keep-alive and ${result.fresh} fresh-connection requests`);
    t.ok(result.keepAlive > 40, `${round.name}: ${result.keepAlive} keep-alive requests around the restart`);
    t.same(result.lost, [], `${round.name}: no request lost`);
    t.ok(result.restartMs < 10_000, `${round.name}: systemctl restart returned in ${result.restartMs} ms (the old gateway drained and exited)`);
    t.not(result.after, result.before, `${round.name}: a new gateway process (${result.before} -> ${result.after})`);
  }
  t.equal(await unitActive('rustless.service'), 'active');
  t.equal((await ok(t, 'systemctl show -p NRestarts --value rustless.service')).stdout.trim(), crashesBefore, 'no gateway crashed and was restarted by systemd meanwhile');
});

t.test('eight restarts of the gateway in a row: it keeps serving (no start limit closes its sockets)', async (t) => {
  // systemd's default start limit (5 starts in 10 s) counts `systemctl restart` too: the sixth
  // failed the service with start-limit-hit and closed rustless.socket for good.
  const restarts = await ok(t, `for i in $(seq 8); do systemctl restart rustless || exit 1; curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:${port}/version; done`);
  t.same(restarts.stdout.trim().split(' '), Array(8).fill('200'), 'a request after each restart answers');
  t.equal(await unitActive('rustless.service'), 'active');
  t.equal(await unitActive('rustless.socket'), 'active', 'the public socket still listens');
});

t.test('after a build, a quiet gateway restarts itself once its apps are stopped; requests sent as it does all succeed', async (t) => {
  // The gateway's flags as install.mjs wrote them, with a 3 s quiet time instead of 60 s.
  const env = (await ok(t, 'cat /etc/rustless/gateway.env')).stdout;
  await host.writeFile('/etc/rustless/gateway.env', env.replace(/^RUSTLESS_GATEWAY_FLAGS=(.*)$/m, 'RUSTLESS_GATEWAY_FLAGS=$1 --restart-after-builds 3'));
  t.teardown(async () => {
    await host.writeFile('/etc/rustless/gateway.env', env);
    await guest('systemctl restart rustless.service');
  });
  await ok(t, 'systemctl restart rustless.service');
  const mainPid = async (): Promise<string> => (await ok(t, 'systemctl show -p MainPID --value rustless.service')).stdout.trim();
  const crashesBefore = (await ok(t, 'systemctl show -p NRestarts --value rustless.service')).stdout.trim();
  await ok(t, `sed -i 's/"hello {}"/"hello, {}"/' /root/apps/hello/src/lib.rs`);
  const built = await deploy('hello');
  t.equal(built.exitCode, 0, 'a one-line change of hello deploys', { output: built.stdout + built.stderr });
  const before = await mainPid();
  t.equal((await get('/hello/up')).body?.message, 'hello, up', 'the new build answers, and hello runs');
  // In the guest, so nothing is missed: wait for the gateway's line, say whether hello still
  // runs (it must have been stopped for idleness first), then 20 requests on new connections at
  // once, made as the old gateway goes and the new one starts: systemd's socket holds them.
  const renewal = await ok(
    t,
    `timeout 120 journalctl -u rustless.service -f -n 0 -o cat | grep -m 1 'restarting the gateway'; systemctl is-active rustless-fn-hello.service; ` +
      `for i in $(seq 20); do curl -s -o /dev/null -w '%{http_code} %{time_total}\\n' --max-time 60 http://127.0.0.1:${port}/hello/r$i & done; wait`,
    'the gateway says it restarts, within 2 min',
  );
  const [line = '', helloState, ...answers] = renewal.stdout.trim().split('\n');
  const codes = answers.map((answer) => answer.split(' ')[0]);
  t.comment(line);
  // Those that waited in the socket for the next gateway took its start.
  t.comment(`the 20 requests took ${answers.map((answer) => Number(answer.split(' ')[1]).toFixed(2)).join(', ')} s`);
  t.match(line, /^rustless: restarting the gateway, quiet for 3 s after 1 build, to give back the memory they grew \(RSS [\d.]+ MiB, [\d.]+ MiB of it its own\)/, 'with why and how much');
  t.equal(helloState, 'inactive', 'only once hello was stopped for idleness');
  t.same(codes, Array(20).fill('200'), 'all 20 requests sent as it restarts answer 200');
  await eventually(async () => (await unitActive('rustless.service')) === 'active' && (await mainPid()) !== before, 30_000, 'a new gateway process');
  t.pass(`a new gateway process (${before} -> ${await mainPid()})`);
  t.equal((await ok(t, 'systemctl show -p NRestarts --value rustless.service')).stdout.trim(), crashesBefore, 'a restart it asked for, not a crash systemd restarted');
  const stopLog = (await ok(t, `journalctl -u rustless.service _PID=${before} -o cat --no-pager`)).stdout;
  t.match(stopLog, /SIGTERM, draining/, 'the old gateway drained as in any systemctl restart');
  t.equal((await get('/hello/after')).body?.message, 'hello, after', 'and the new gateway serves the same build');
  await ok(t, `sed -i 's/"hello, {}"/"hello {}"/' /root/apps/hello/src/lib.rs`);
});

t.test('no number of cold starts or crashes takes an app offline; a runner that cannot start answers 503 and recovers', async (t) => {
  // 20 cold starts in a row, each started by a connection to the app's socket (systemd's default
  // start limit is 5 in 10 s).
  const cold = await ok(t, `t0=$(date +%s%N); for i in $(seq 20); do systemctl stop rustless-fn-hello.service; curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:${port}/hello/cold$i; done; echo; echo $(( ($(date +%s%N)-t0)/1000000 ))`);
  const [codes, elapsed] = cold.stdout.trim().split('\n');
  t.comment(`20 cold starts in ${elapsed} ms`);
  t.same(codes!.trim().split(' '), Array(20).fill('200'), '20 cold starts, 20 answers');
  t.equal(await unitActive('rustless-fn-hello.socket'), 'active', 'the socket still listens');

  // 20 aborts in a row: each kills the runner; the next request starts it again.
  const t0 = Date.now();
  const after: number[] = [];
  for (let i = 0; i < 20; i++) {
    await tryGet('/abort');
    after.push((await tryGet('/version')).status);
  }
  t.comment(`20 aborts in ${Date.now() - t0} ms`);
  t.same(after, Array(20).fill(200), 'the request after each abort is served');
  t.equal(await unitActive('rustless-fn-testbed.socket'), 'active', 'the socket still listens');
  const crashed = await appInfo('testbed');
  t.match(crashed.runtime.lastExit, { reason: 'signal', message: /killed by SIG/ }, 'rustless ls tells how the runner last ended');

  // A runner that cannot start (its image is gone): 503 with the reason, no storm of starts.
  const image = (await ok(t, 'grep ^Image= /etc/containers/systemd/rustless-fn-testbed.container | cut -d= -f2')).stdout.trim();
  await ok(t, `rustless stop testbed && podman tag ${image} localhost/kept:1 && podman rmi ${image}`);
  const since = (await ok(t, 'date +%s')).stdout.trim();
  const broken: Reply[] = [];
  const hammerUntil = Date.now() + 6_000;
  while (Date.now() < hammerUntil) {
    broken.push(await tryGet('/version'));
    await sleep(50);
  }
  t.same([...new Set(broken.map((r) => r.status))], [503], `all ${broken.length} requests answer 503`);
  t.match(broken.at(-1)?.body, { error: { code: 'RUSTLESS_UNAVAILABLE', message: /app testbed failed to start \(.+\); rust-less tries again in \d+ s/ } }, 'saying why and when it tries again');
  const starts = Number((await ok(t, `journalctl -u rustless-fn-testbed.service --since=@${since} -o cat | grep -c '^Starting' || true`)).stdout.trim());
  t.ok(starts >= 2 && starts <= 6, `${starts} starts in 6 s of ${broken.length} requests (backoff, not a storm)`);
  const failed = await appInfo('testbed');
  t.equal(failed.status, 'failed', 'rustless ls: failed');
  t.match(failed.runtime.backoff, { failures: Number, message: /failed to start/ }, 'with the reason and the next try');
  t.comment(failed.runtime.backoff.message);
  t.match(failed.runtime.backoff.message, /\(exited with status 12[5-7] \(Podman could not run the container: \S.*\)\)/, "naming Podman's own error, not just its status");
  t.match((await ok(t, 'rustless ls')).stdout, /testbed\s+failed.*failed to start/, 'in the table too');

  await ok(t, `podman tag localhost/kept:1 ${image} && podman rmi localhost/kept:1`);
  await eventually(async () => (await tryGet('/version')).status === 200, 40_000, 'testbed to recover');
  t.pass('it recovers by itself once the image is back');
  t.not((await appInfo('testbed')).status, 'failed', 'and is no longer failed');
});

t.test('an out-of-memory kill says so, with the limit, in rustless ls and the log', async (t) => {
  const hog = await tryGet('/hog');
  t.equal(hog.status, 502, 'the request that ran out of memory fails');
  t.match(hog.body, { error: { code: 'RUSTLESS_RUNNER_DIED', message: /killed by the kernel's out-of-memory killer \(out of memory: the limit is 128M\)/ } }, 'and its error says so, with the limit (runnerExit)');
  await eventually(async () => (await appInfo('testbed')).runtime.lastExit?.reason === 'oom-kill', 10_000, 'the out-of-memory exit in rustless ls');
  t.match((await appInfo('testbed')).runtime.lastExit, { reason: 'oom-kill', memoryLimit: '128M', message: 'out of memory: killed at its memory limit of 128M' });
  t.match((await ok(t, 'rustless logs testbed -n 200')).stdout, /the runner of testbed ended: out of memory: killed at its memory limit of 128M/, 'rustless logs says so');
  t.equal((await get('/version')).status, 200, 'the next request is served');
});

t.test('an app using a crate the host has not got fails at once, naming it and its apt line', async (t) => {
  await ok(t, `rm -rf /root/apps/dated && cp -r ${SRC}/runner/examples/hello /root/apps/dated && rm -rf /root/apps/dated/target && sed -i 's/^name = "hello"/name = "dated"/' /root/apps/dated/Cargo.toml /root/apps/dated/rustless.toml && sed -i 's#"/hello#"/dated#' /root/apps/dated/rustless.toml && echo 'chrono = "0.4"' >> /root/apps/dated/Cargo.toml`);
  const started = Date.now();
  const result = await sh('rustless deploy /root/apps/dated');
  t.comment(`failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.not(result.exitCode, 0);
  t.match(
    result.stdout + result.stderr,
    "rustless: the crate `chrono` is not in this host's crate registry (/usr/share/cargo/registry, offline). Install it on the gateway's machine: apt install librust-chrono-dev",
  );
  t.ok(Date.now() - started < 60_000, 'before compiling anything');
  await ok(t, 'rustless rm dated');
});

t.test('a build killed for memory says so, with the limit; the next build with room succeeds', async (t) => {
  // The gateway's flags as install.mjs wrote them, plus a build limit no rustc fits in.
  const env = (await ok(t, 'cat /etc/rustless/gateway.env')).stdout;
  await host.writeFile('/etc/rustless/gateway.env', env.replace(/^RUSTLESS_GATEWAY_FLAGS=(.*)$/m, 'RUSTLESS_GATEWAY_FLAGS=$1 --build-memory 48M'));
  await ok(t, 'systemctl restart rustless.service');
  await ok(t, `rm -rf /root/apps/hello3 && cp -r ${SRC}/runner/examples/hello /root/apps/hello3 && rm -rf /root/apps/hello3/target && sed -i 's/^name = "hello"/name = "hello3"/' /root/apps/hello3/Cargo.toml /root/apps/hello3/rustless.toml && sed -i 's#"/hello#"/hello3#' /root/apps/hello3/rustless.toml`);
  const starved = await sh('rustless deploy /root/apps/hello3');
  const output = starved.stdout + starved.stderr;
  t.not(starved.exitCode, 0, 'the build fails');
  t.match(output, /^rustless: the build ran out of memory: the kernel killed a compiler at the build's limit MemoryMax=48M \(peak \d+ MiB\)\. Give builds more memory \(the gateway's --build-memory\)/m, 'it says why, with the limit');
  // Whichever the kernel chose: a rustc (cargo reports its SIGKILL) or cargo itself (the
  // build's shell says Killed). Seeded from a kept layer, the build can reach its limit early.
  t.match(output, /SIGKILL|^Killed$/m, "the killed process's own words follow");
  await host.writeFile('/etc/rustless/gateway.env', env);
  await ok(t, 'systemctl restart rustless.service');
  const fed = await sh('rustless deploy /root/apps/hello3');
  t.equal(fed.exitCode, 0, 'with the usual limit it builds', { output: (fed.stdout + fed.stderr).slice(-3000) });
  await ok(t, 'rustless rm hello3');
});

t.test("deleting an app mid-build, or restarting the gateway, stops the build's unit and its node process", async (t) => {
  // A build.rs that outlasts the test: the build is caught running, whatever the machine's speed.
  await ok(t, `rm -rf /root/apps/sleepy && cp -r ${SRC}/runner/examples/hello /root/apps/sleepy && rm -rf /root/apps/sleepy/target && sed -i 's/^name = "hello"/name = "sleepy"/' /root/apps/sleepy/Cargo.toml /root/apps/sleepy/rustless.toml && sed -i 's#"/hello#"/sleepy#' /root/apps/sleepy/rustless.toml && printf 'fn main() { std::thread::sleep(std::time::Duration::from_secs(600)); }\\n' > /root/apps/sleepy/build.rs`);
  const buildUnits = async (): Promise<string> => (await guest("systemctl list-units --all --no-legend --plain 'rustless-build-sleepy-*' | cut -d' ' -f1")).stdout.trim();
  // [b]: the shell running pgrep has the pattern in its own command line.
  const buildProcesses = async (): Promise<string> => (await guest("pgrep -af '[b]uild-process.js' || true")).stdout.trim();
  const building = async (): Promise<number> => {
    const deployed = await ok(t, 'rustless deploy --no-wait --json /root/apps/sleepy');
    const id = (JSON.parse(deployed.stdout) as { id: number }).id;
    await eventually(async () => (await buildUnits()) !== '' && (await buildProcesses()) !== '', 120_000, 'the build unit and the build process');
    return id;
  };

  await building();
  t.match(await buildProcesses(), /node .*\/backends\/systemd\/build-process\.js/, 'the build runs in a node process of its own');
  const removed = Date.now();
  await ok(t, 'rustless rm sleepy');
  t.comment(`rm during the build: ${Date.now() - removed} ms`);
  t.equal(await buildUnits(), '', 'rm returns with the build unit gone');
  t.equal(await buildProcesses(), '', 'and the build process');

  const id = await building();
  await ok(t, 'systemctl restart rustless.service');
  await eventually(async () => (await buildUnits()) === '' && (await buildProcesses()) === '', 30_000, 'the build unit and process gone after the restart');
  t.pass('a restart mid-build leaves no build unit or build process behind');
  t.match(await appInfo('sleepy'), { latestBuild: { id, status: 'failed' }, currentBuild: null }, 'the build is recorded failed');
  t.equal((await get('/version')).status, 200, 'other apps still answer');
  await ok(t, 'rustless rm sleepy');
});

t.test('a panic answers 500 and the next request 200; an abort fails one request only', async (t) => {
  const panic = await get('/panic');
  t.equal(panic.status, 500);
  t.match(panic.body, { error: { code: String } });
  t.equal((await get('/version')).status, 200, 'next request served');

  const aborted = await tryGet('/abort');
  t.ok(aborted.status >= 500 || aborted.status === 0, `the aborting request fails (${aborted.status})`);
  const next = await get('/version');
  t.equal(next.status, 200, 'the next request is served (the socket starts the container again)');
  t.same(next.body, { version: 2 });
});

t.test('the generated units pass systemd-analyze verify', async (t) => {
  await ok(t, 'systemd-analyze verify /etc/systemd/system/rustless-fn-testbed.socket /run/systemd/generator/rustless-fn-testbed.service');
  await ok(t, 'systemd-analyze verify /etc/systemd/system/rustless-fn-hello.socket /run/systemd/generator/rustless-fn-hello.service');
});

t.test('deleting an app removes its units and image; its routes answer 404', async (t) => {
  t.equal((await get('/hello/bye')).status, 200);
  await ok(t, 'rustless rm hello');
  t.equal((await sh('test -e /etc/containers/systemd/rustless-fn-hello.container')).exitCode, 1, 'the .container is gone');
  t.equal((await sh('test -e /etc/systemd/system/rustless-fn-hello.socket')).exitCode, 1, 'the .socket is gone');
  t.equal((await sh('test -e /run/rustless/fn/hello.sock')).exitCode, 1, 'the socket file is gone');
  t.match((await sh('systemctl show -p LoadState --value rustless-fn-hello.service rustless-fn-hello.socket')).stdout, /^not-found\s+not-found\s*$/, 'systemd knows neither unit');
  t.notMatch((await ok(t, 'podman images --format "{{.Repository}}"')).stdout, /rustless-fn-hello/, 'its images are gone');
  const reply = await get('/hello/bye');
  t.equal(reply.status, 404);
  t.match(reply.body, { error: { code: 'RUSTLESS_NOT_FOUND' } });
  t.equal((await get('/version')).status, 200, 'other apps still answer');
});

t.test('install.mjs --uninstall takes it all away', async (t) => {
  await ok(t, `cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --uninstall`);
  for (const path of ['/usr/local/bin/rustless', '/usr/local/lib/rustless', '/etc/systemd/system/rustless.service', '/etc/containers/systemd/rustless-fn-testbed.container', '/var/lib/rustless']) {
    t.equal((await sh(`test -e ${path}`)).exitCode, 1, `${path} is gone`);
  }
  t.equal((await sh('getent group rustless')).exitCode, 2, 'the group is gone');
  t.notMatch((await sh('podman images --format "{{.Repository}}"')).stdout, /rustless-fn-/, 'no images left');
  t.equal((await tryGet('/version')).status, 0, 'nothing listens on the port');
});

/**
 * The checkout at /src/rustless, and its node_modules at the same path as here when it is a
 * symlink out of the checkout (a git worktree sharing another's), so install.mjs finds it.
 */
function portFree(candidate: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(candidate, '0.0.0.0', () => server.close(() => resolveFree(true)));
  });
}
