#!/usr/bin/env zx
// Benchmarks the systemd backend in a booted trixie test host (scripts/lib/testhost.mjs),
// with rust-less installed by scripts/install.mjs as a user would, and prints:
//   - first build and one-line-change rebuild of runner/examples/hello in the sandboxed build;
//   - interleaved, --starts rounds of: a cold start through the gateway (stopped app -> first
//     response), a thaw through the gateway (app frozen by the warm tier -> first response), a
//     request to the running app through the gateway (a fresh connection each, like the others),
//     and a bare socket-activated start on the app's socket (no gateway), p50/p95 of each;
//     then a bare `podman run` of the same image with the same flags;
//   - warm p50/p99 and req/s through the gateway and straight to the app's socket;
//   - `systemd-analyze security` exposure of rustless.service and rustless-fn-hello.service.
//   - the issue #8 yardstick: nginx (from Debian, on this host, one worker) proxying to the same
//     app socket with keep-alive upstream and the gateway's x-rustless-* headers, beside the
//     gateway, wrk GET /hello/pi at 1, 16 and 64 connections in --rounds interleaved rounds:
//     req/s, p50, CPU per request of the proxy.
// Flags: --starts 20, --seconds 5 (per warm run), --connections 8, --rounds 3, --port (free one), --keep (leave the host up).
// Run `npm run build` first. Needs root; wrap it in `flock /tmp/rustless-testhost.lock`.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { boot, down } from './lib/testhost.mjs';
import { freePort } from './lib/free-port.mjs';
import { cpuTicks, requireTools, startNginx, writeWrkScript, wrk } from './lib/yardstick.mjs';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const NAME = 'bench-systemd';
const SRC = '/src/rustless';
const starts = Number(argv.starts ?? 20);
const seconds = Number(argv.seconds ?? 5);
const connections = Number(argv.connections ?? 8);
const rounds = Number(argv.rounds ?? 3);
const log = (text) => process.stderr.write(`[bench] ${text}\n`);
const ticksPerS = Number((await $`getconf CLK_TCK`).stdout.trim());

if (process.getuid() !== 0) throw new Error('bench-systemd needs root (it boots the test host)');
await requireTools();
if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');

// A free port, not 8080: other test hosts on this machine (they share its network) may hold 8080,
// or free it for a moment while their gateway restarts.
const port = argv.port ? Number(argv.port) : await freePort();
// node_modules may be a symlink out of the checkout (a git worktree sharing another's): bind it at the same path.
const modules = fs.realpathSync(path.join(root, 'node_modules'));
const binds = [{ host: root, guest: SRC, readOnly: true }, ...(modules.startsWith(`${root}/`) ? [] : [{ host: modules, guest: modules, readOnly: true }])];
const host = await boot({ name: NAME, binds, log });
const results = {};
try {
  // A 1 s idle timeout while starts are measured, so the warm tier freezes the app between them.
  await guest(`cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${port} --gateway-flags="--idle-timeout 1"`);
  await guest('mkdir -p /root/apps && cp -r /src/rustless/runner/examples/hello /root/apps/hello && rm -rf /root/apps/hello/target');

  log('first build of hello (cold dependency cache)');
  results.firstBuildS = await timedDeploy();
  await guest(`sed -i 's/"hello {}"/"hello, {}"/' /root/apps/hello/src/lib.rs`);
  log('rebuild after a one-line change');
  results.rebuildS = await timedDeploy();
  const image = (await guest('podman images --format "{{.Repository}}:{{.Tag}}" --filter reference=localhost/rustless-fn-hello')).stdout.split('\n')[0].trim();

  log(`cold starts, thaws, running and socket-activated starts, interleaved (${starts} rounds)`);
  const url = `http://127.0.0.1:${port}`;
  // Timed inside the guest, beside the gateway (scripts/lib/guest/start-timings.mjs).
  const starts_ = JSON.parse((await guest(`cd ${SRC} && node scripts/lib/guest/start-timings.mjs --port ${port} --rounds ${starts}`)).stdout);
  const cold = starts_.cold;
  const socketCold = starts_.socket;
  // The rest (warm load, the yardstick straight on the app socket) must not see the app frozen
  // while the gateway idles: back to a long idle timeout (a gateway restart thaws it).
  await guest(`echo 'RUSTLESS_GATEWAY_FLAGS=--idle-timeout 600' > /etc/rustless/gateway.env && systemctl restart rustless.service`);
  await fetch(`${url}/hello/again`).then((r) => r.text());

  log(`bare podman run of ${image} (${starts})`);
  const bare = JSON.parse((await guest(`node ${SRC}/scripts/lib/guest/bare-podman-run.mjs ${image} ${starts}`)).stdout);

  log(`warm: ${seconds} s x ${connections} connections through the gateway, then to the app socket`);
  await fetch(`${url}/hello/warm`).then((r) => r.text());
  const viaGateway = await load(new Pool(url, { connections }), { path: '/hello/bench', headers: {} });
  const socketPath = host.hostPath('/run/rustless/fn/hello.sock');
  const direct = await load(new Pool('http://localhost', { connections, socketPath }), {
    path: '/hello/bench',
    headers: { 'x-rustless-function': 'Hello', 'x-rustless-params': '{"name":"bench"}' },
  });

  log(`yardstick: nginx on this host beside the gateway, wrk, ${rounds} interleaved rounds of ${seconds} s at 1, 16 and 64 connections`);
  results.yardstick = await yardstick(url, socketPath, await gatewayHostPid());

  const exposure = async (unit) => (await guest(`systemd-analyze security --no-pager ${unit} | tail -1`)).stdout.replace(/^.*?Overall exposure level for /, '').trim();
  results.security = { gateway: await exposure('rustless.service'), app: await exposure('rustless-fn-hello.service') };

  const c = stats(cold);
  const b = stats(bare);
  console.log(`rust-less systemd backend, in the trixie test host (systemd ${(await guest('systemctl --version | head -1')).stdout.split(' ')[1]}, ${(await guest('podman --version')).stdout.trim()})`);
  console.log('');
  console.log('sandboxed build (systemd-run, static, FROM scratch image), runner/examples/hello:');
  console.log(`  first build (cold cache)          ${results.firstBuildS.toFixed(1)} s`);
  console.log(`  rebuild after a one-line change   ${results.rebuildS.toFixed(1)} s`);
  console.log('');
  console.log(`first request, ${starts} interleaved rounds, fresh connection     p50        p95`);
  const sc = stats(socketCold);
  const th = stats(starts_.thaw);
  const up = stats(starts_.running);
  console.log(`  cold start through the gateway (stopped app)   ${ms(c.p50)}  ${ms(c.p95)}`);
  console.log(`  thaw through the gateway (frozen app)          ${ms(th.p50)}  ${ms(th.p95)}`);
  console.log(`  running app through the gateway                ${ms(up.p50)}  ${ms(up.p95)}`);
  console.log(`  socket-activated start, no gateway             ${ms(sc.p50)}  ${ms(sc.p95)}`);
  console.log(`  bare podman run (after the rounds)             ${ms(b.p50)}  ${ms(b.p95)}`);
  console.log(`  cold / socket-activated                        ${(c.p50 / sc.p50).toFixed(2)}x      ${(c.p95 / sc.p95).toFixed(2)}x`);
  console.log(`  thaw / socket-activated                        ${(th.p50 / sc.p50).toFixed(3)}x     ${(th.p95 / sc.p95).toFixed(3)}x`);
  console.log('');
  console.log(`warm, ${connections} connections, ${seconds} s      p50        p99        req/s`);
  console.log(`  through the gateway         ${ms(viaGateway.p50)}  ${ms(viaGateway.p99)}  ${viaGateway.rps.toFixed(0).padStart(8)}`);
  console.log(`  app socket directly         ${ms(direct.p50)}  ${ms(direct.p99)}  ${direct.rps.toFixed(0).padStart(8)}`);
  console.log(`  gateway / direct            ${(viaGateway.p50 / direct.p50).toFixed(2)}x      ${(viaGateway.p99 / direct.p99).toFixed(2)}x      ${(viaGateway.rps / direct.rps).toFixed(2)}x`);
  console.log('');
  console.log(`issue #8 yardstick: GET /hello/pi, wrk, ${rounds} interleaved rounds of ${seconds} s per cell`);
  console.log('  conns  path       req/s   x nginx   p50 ms   proxy CPU/req   errors');
  for (const c of [1, 16, 64]) {
    const nginx = results.yardstick[`nginx ${c}`];
    for (const name of ['nginx', 'gateway']) {
      const r = results.yardstick[`${name} ${c}`];
      const rps = r.requests / r.seconds;
      const cpu = `${((r.ticks / ticksPerS / r.requests) * 1e6).toFixed(0)} µs`;
      console.log(`  ${String(c).padStart(5)}  ${name.padEnd(8)} ${rps.toFixed(0).padStart(7)}  ${(rps / (nginx.requests / nginx.seconds)).toFixed(2).padStart(6)}x  ${median(r.p50).toFixed(2).padStart(7)}  ${cpu.padStart(14)}  ${String(r.errors).padStart(7)}`);
    }
  }
  console.log('');
  console.log('systemd-analyze security (0 = locked down, 10 = exposed):');
  console.log(`  rustless.service            ${results.security.gateway}`);
  console.log(`  rustless-fn-hello.service   ${results.security.app}`);
} finally {
  if (!argv.keep) await down({ name: NAME, log });
  else log(`left running: node scripts/testhost.mjs shell --name ${NAME}`);
}

/**
 * nginx on this host proxying to the app's socket (reached through the guest's root), and wrk
 * against it and the gateway (the guest shares this host's network), interleaved.
 */
async function yardstick(gatewayUrl, appSocket, gatewayPid) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-yardstick-'));
  const nginx = await startNginx({ dir, port: await freePort(), probe: '/hello/pi', routes: [{ location: '/hello/', socket: appSocket, fn: 'Hello', params: '{"name":"pi"}' }] });
  try {
    const script = path.join(dir, 'get.lua');
    await writeWrkScript(script, { path: '/hello/pi' });
    const targets = { nginx: { base: nginx.base, pids: nginx.pids }, gateway: { base: gatewayUrl, pids: [gatewayPid] } };
    await wrk({ base: gatewayUrl, connections: 4, seconds: 1, script });
    const results = {};
    for (let round = 0; round < rounds; round++) {
      for (const c of [1, 16, 64]) {
        const order = round % 2 === 0 ? ['nginx', 'gateway'] : ['gateway', 'nginx'];
        for (const name of order) {
          const before = cpuTicks(targets[name].pids);
          const out = await wrk({ base: targets[name].base, connections: c, seconds, script });
          // Counted, not fatal: the app's container has a pids limit, and nginx opens an upstream
          // connection (a runner thread) per request in flight.
          const r = (results[`${name} ${c}`] ??= { requests: 0, seconds: 0, p50: [], ticks: 0, errors: 0 });
          r.errors += out.errors;
          r.requests += out.requests;
          r.seconds += out.seconds;
          r.p50.push(out.p50);
          r.ticks += cpuTicks(targets[name].pids) - before;
        }
      }
    }
    return results;
  } finally {
    await nginx.stop();
    await fs.remove(dir);
  }
}

/** The gateway's pid as this host sees it: the guest's MainPID of rustless.service, mapped through NSpid. */
async function gatewayHostPid() {
  const guestPid = (await guest('systemctl show -p MainPID --value rustless.service')).stdout.trim();
  const guestNs = fs.readlinkSync(`/proc/${host.pid}/ns/pid`);
  for (const entry of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== guestNs) continue;
      const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1].trim().split(/\s+/);
      if (nspid?.at(-1) === guestPid) return Number(entry);
    } catch {
      // A process that ended meanwhile.
    }
  }
  throw new Error(`no process on this host is the guest's rustless.service (MainPID ${guestPid})`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A guest command with a clean environment; rejects when it fails. */
async function guest(cmd) {
  const env = ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8'];
  const result = await host.run([...env, '/bin/sh', '-c', cmd]);
  if (result.exitCode !== 0) throw new Error(`${cmd} exited ${result.exitCode}:\n${result.stdout}${result.stderr}`);
  return result;
}

async function timedDeploy() {
  const t0 = performance.now();
  await guest('rustless deploy /root/apps/hello');
  return (performance.now() - t0) / 1000;
}

/** Closed-loop load: `connections` requests in flight for `seconds`, after a one-second warm-up. */
async function load(pool, { path: urlPath, headers }) {
  const latencies = [];
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      const { statusCode, body } = await pool.request({ method: 'GET', path: urlPath, headers });
      await body.text();
      if (statusCode !== 200) throw new Error(`${urlPath}: status ${statusCode}`);
      if (measuring) latencies.push(performance.now() - t0);
    }
  };
  const workers = Array.from({ length: connections }, worker);
  await sleep(1000);
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  await pool.close();
  return { ...stats(latencies), rps: latencies.length / elapsed };
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), n: sorted.length };
}

function ms(value) {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`.padStart(9);
}
