#!/usr/bin/env zx
// Benchmarks the local backend on this machine and prints the figures of issues #2 and #8:
// build times and cold starts, then the request path measured beside a yardstick. For GET
// /hello/pi and a 1 KiB JSON POST /echo, at 1, 16 and 64 connections, wrk (from Debian) loads
// in interleaved rounds:
//   - nginx (from Debian), one worker, started here on the same runner unix sockets with
//     keep-alive upstream connections and the same x-rustless-* headers the gateway sends;
//   - the rust-less gateway;
//   - (reference) the same runner binaries started on TCP and called directly.
// It prints req/s, p50/p99, CPU per request of the proxy and of the runner (from
// /proc/<pid>/stat deltas), the gateway's RSS, and the issue's goals. Nothing is asserted.
// Loopback only. Flags: --rounds 3 --seconds 3 --connections 1,16,64 --starts 20 --idle-seconds 15
// --cache-dir DIR (reuse a cargo cache; the first build is then not a cold one) --no-builds
// (skip the rebuild and cold starts).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const rounds = Number(argv.rounds ?? 3);
const seconds = Number(argv.seconds ?? 3);
const connections = String(argv.connections ?? '1,16,64').split(',').map(Number);
const starts = Number(argv.starts ?? 20);
const builds = argv.builds !== false;
const idleSeconds = Number(argv['idle-seconds'] ?? 15);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-bench-'));
const cacheDir = argv['cache-dir'] ? path.resolve(argv['cache-dir']) : path.join(work, 'cargo-cache');
const stateDir = path.join(work, 'state');
const ticksPerS = Number((await $`getconf CLK_TCK`).stdout.trim());
const log = (text) => process.stderr.write(`[bench] ${text}\n`);

for (const tool of ['wrk', 'nginx']) {
  if ((await $`command -v ${tool} || test -x /usr/sbin/${tool}`.nothrow()).exitCode !== 0) throw new Error(`${tool} is missing: apt-get install ${tool}`);
}
const nginxBin = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const loadBefore = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const gateway = spawn(process.execPath, [cli, 'gateway', '--backend', 'local', '--port', '0', '--listen', '127.0.0.1', '--state-dir', stateDir, '--cache-dir', cacheDir, '--idle-timeout', '3600'], { stdio: ['ignore', 'pipe', 'inherit'] });
const { url, admin } = await new Promise((resolve) => {
  createInterface({ input: gateway.stdout }).on('line', (line) => {
    const match = /listening on (http:\/\/\S+) \(admin (\S+?),/.exec(line);
    if (match) resolve({ url: match[1], admin: match[2] });
  });
});
const rustless = (...args) => $`node ${cli} ${args} --host ${admin}`;
const children = [];

try {
  const figures = {};
  const hello = path.join(work, 'hello');
  const echoApp = path.join(work, 'echo');
  for (const [name, dir] of [['hello', hello], ['echo', echoApp]]) {
    await fs.copy(path.join(root, 'runner', 'examples', name), dir, { filter: (src) => !src.includes('/target') });
  }
  log('building hello');
  figures.firstBuildMs = await timed(() => rustless('deploy', hello));
  log('building echo');
  await rustless('deploy', echoApp);
  if (builds) {
    await fs.appendFile(path.join(hello, 'src', 'lib.rs'), '\n// a one-line change\n');
    log('rebuilding hello after a one-line change');
    figures.rebuildMs = await timed(() => rustless('deploy', hello));
    log(`cold starts (${starts})`);
    figures.cold = [];
    for (let i = 0; i < starts; i++) {
      await rustless('stop', 'hello');
      figures.cold.push(await timed(() => expectStatus(`${url}/hello/cold`, 200)));
    }
  }

  // Both apps up, then the gateway left alone: its RSS a second after the last deploy, and
  // idle (after --idle-seconds without work, once V8 has given back what the builds used).
  await expectStatus(`${url}/hello/pi`, 200);
  await expectStatus(`${url}/echo`, 201, body(16));
  await sleep(1000);
  figures.gatewayDeployRss = rss(gateway.pid);
  await sleep(Math.max(0, idleSeconds - 1) * 1000);
  figures.gatewayIdleRss = rss(gateway.pid);

  const apps = JSON.parse((await rustless('ls', '--json')).stdout);
  const runner = (name) => apps.find((a) => a.name === name).runtime.pid;
  const socket = (name) => path.join(stateDir, 'run', `${name}.sock`);

  const nginxPort = await freePort();
  const nginx = await startNginx(nginxPort, socket('hello'), socket('echo'));
  const direct = {
    hello: await startDirect(fs.readlinkSync(`/proc/${runner('hello')}/exe`)),
    echo: await startDirect(fs.readlinkSync(`/proc/${runner('echo')}/exe`)),
  };

  const bodyFile = path.join(work, 'post.lua');
  const directHeaders = { GET: { 'x-rustless-function': 'Hello', 'x-rustless-params': '{"name":"pi"}' }, POST: { 'x-rustless-function': 'Echo', 'x-rustless-params': '{}' } };
  const targets = {
    nginx: { base: `http://127.0.0.1:${nginxPort}`, proxy: nginx.pids, runners: { GET: [runner('hello')], POST: [runner('echo')] }, headers: { GET: {}, POST: {} } },
    gateway: { base: url, proxy: [gateway.pid], runners: { GET: [runner('hello')], POST: [runner('echo')] }, headers: { GET: {}, POST: {} } },
    direct: { base: null, proxy: [], runners: { GET: [direct.hello.pid], POST: [direct.echo.pid] }, headers: directHeaders, bases: { GET: direct.hello.base, POST: direct.echo.base } },
  };
  for (const [name, t] of Object.entries(targets)) {
    for (const method of ['GET', 'POST']) {
      const base = t.bases?.[method] ?? t.base;
      await writeScript(bodyFile, method, t.headers[method]);
      // A warm-up that also checks every path answers what the function answers.
      const out = await wrk(base, method, 4, 1, bodyFile);
      if (out.errors > 0) throw new Error(`${name} ${method}: ${out.errors} errors in the warm-up`);
    }
  }

  const results = {};
  const order = Object.keys(targets);
  for (let round = 0; round < rounds; round++) {
    for (const method of ['GET', 'POST']) {
      for (const c of connections) {
        // Rotate who goes first so a burst of outside load hits all paths alike.
        const rotated = order.map((_, i) => order[(i + round) % order.length]);
        for (const name of rotated) {
          const t = targets[name];
          log(`round ${round + 1}/${rounds}: ${method} c=${c} ${name}`);
          await writeScript(bodyFile, method, t.headers[method]);
          const proxyBefore = cpuTicks(t.proxy);
          const runnerBefore = cpuTicks(t.runners[method]);
          const out = await wrk(t.bases?.[method] ?? t.base, method, c, seconds, bodyFile);
          if (out.errors > 0) throw new Error(`${name} ${method} c=${c}: ${out.errors} errors`);
          const r = (results[`${name} ${method} ${c}`] ??= { requests: 0, seconds: 0, p50: [], p99: [], proxyTicks: 0, runnerTicks: 0 });
          r.requests += out.requests;
          r.seconds += out.seconds;
          r.p50.push(out.p50);
          r.p99.push(out.p99);
          r.proxyTicks += cpuTicks(t.proxy) - proxyBefore;
          r.runnerTicks += cpuTicks(t.runners[method]) - runnerBefore;
        }
      }
    }
  }
  figures.gatewayAfterRss = rss(gateway.pid);
  const loadAfter = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

  const row = (name, method, c) => {
    const r = results[`${name} ${method} ${c}`];
    return {
      rps: r.requests / r.seconds,
      p50: median(r.p50),
      p99: median(r.p99),
      proxyUs: (r.proxyTicks / ticksPerS / r.requests) * 1e6,
      runnerUs: (r.runnerTicks / ticksPerS / r.requests) * 1e6,
    };
  };
  echo(chalk.bold(`\nrust-less local backend, ${os.cpus().length} cores, node ${process.versions.node}, ${(await $`${nginxBin} -v 2>&1`).stdout.trim()}`));
  echo(`load average before / after: ${loadBefore} / ${loadAfter}; ${rounds} interleaved rounds of ${seconds} s per cell`);
  if (builds) {
    echo(`build: first (${argv['cache-dir'] ? 'reused cache' : 'empty cache'}) / one-line change: ${fmt(figures.firstBuildMs / 1000)} / ${fmt(figures.rebuildMs / 1000)} s`);
    echo(`cold start through the gateway p50 / p95 (n=${starts}): ${fmt(pct(figures.cold, 0.5))} / ${fmt(pct(figures.cold, 0.95))} ms`);
  }
  echo(`gateway RSS 1 s after the deploys / idle ${idleSeconds} s / right after the load: ${fmt(figures.gatewayDeployRss)} / ${fmt(figures.gatewayIdleRss)} / ${fmt(figures.gatewayAfterRss)} MiB`);
  echo('');
  echo('request    conns  path      req/s   x nginx   p50 ms   p99 ms   proxy CPU/req   runner CPU/req');
  for (const method of ['GET', 'POST']) {
    for (const c of connections) {
      const base = row('nginx', method, c);
      for (const name of order) {
        const x = row(name, method, c);
        echo(
          `${(method === 'GET' ? 'GET /hello/pi' : 'POST 1 KiB').padEnd(14)} ${String(c).padStart(3)}  ${name.padEnd(8)} ${fmt(x.rps, 0).padStart(7)}  ${fmt(x.rps / base.rps, 2).padStart(6)}x  ${fmt(x.p50, 2).padStart(7)}  ${fmt(x.p99, 2).padStart(7)}  ${name === 'direct' ? '            -' : `${fmt(x.proxyUs, 0).padStart(10)} µs`}  ${fmt(x.runnerUs, 0).padStart(12)} µs`,
        );
      }
    }
  }

  echo(chalk.bold('\nissue #8 goals (gateway against nginx, this run)'));
  const goal = (label, value, ok) => echo(`${ok ? chalk.green('met    ') : chalk.red('not met')} ${label.padEnd(58)} ${value}`);
  for (const method of ['GET', 'POST']) {
    for (const c of connections.filter((n) => n > 1)) {
      const ratio = row('gateway', method, c).rps / row('nginx', method, c).rps;
      goal(`throughput ${method} c=${c} >= 0.7 x nginx`, `${fmt(ratio, 2)} x`, ratio >= 0.7);
    }
    if (connections.includes(1)) {
      const added = row('gateway', method, 1).p50 - row('nginx', method, 1).p50;
      goal(`added p50 latency ${method} c=1 <= 0.1 ms`, `${fmt(added, 3)} ms`, added <= 0.1);
    }
  }
  const cpu = (name) => connections.reduce((sum, c) => sum + ['GET', 'POST'].reduce((s, m) => s + results[`${name} ${m} ${c}`].proxyTicks, 0), 0) / connections.reduce((sum, c) => sum + ['GET', 'POST'].reduce((s, m) => s + results[`${name} ${m} ${c}`].requests, 0), 0);
  const cpuRatio = cpu('gateway') / cpu('nginx');
  goal('gateway CPU per request <= 2 x nginx (all cells)', `${fmt(cpuRatio, 2)} x`, cpuRatio <= 2);
  goal(`gateway RSS idle (${idleSeconds} s without work) <= 60 MiB`, `${fmt(figures.gatewayIdleRss)} MiB`, figures.gatewayIdleRss <= 60);
} finally {
  for (const child of children) child.kill('SIGTERM');
  gateway.kill('SIGTERM');
  await new Promise((resolve) => gateway.once('exit', resolve));
  await Promise.all(children.map((child) => child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined));
  await fs.remove(work);
}

async function startNginx(port, helloSocket, echoSocket) {
  const prefix = path.join(work, 'nginx');
  await fs.mkdirp(path.join(prefix, 'tmp'));
  const proxy = (fn, params) => `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header x-rustless-function ${fn}; proxy_set_header x-rustless-params '${params}'; proxy_set_header x-forwarded-for $remote_addr;`;
  const conf = `
${process.getuid() === 0 ? 'user root;' : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body; proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fcgi; uwsgi_temp_path ${prefix}/tmp/uwsgi; scgi_temp_path ${prefix}/tmp/scgi;
  upstream hello { server unix:${helloSocket}; keepalive 64; }
  upstream echo { server unix:${echoSocket}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /hello/ { proxy_pass http://hello; ${proxy('Hello', '{"name":"pi"}')} }
    location = /echo { proxy_pass http://echo; ${proxy('Echo', '{}')} }
  }
}
`;
  await fs.writeFile(path.join(prefix, 'nginx.conf'), conf);
  const child = spawn(nginxBin, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log')], { stdio: 'inherit' });
  children.push(child);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/hello/pi`).then((r) => r.status).catch(() => 0)) === 200, 'nginx');
  const workers = (await $`pgrep -P ${child.pid}`).stdout.trim().split('\n').map(Number);
  return { pids: [child.pid, ...workers] };
}

async function startDirect(binary) {
  const port = await freePort();
  const child = spawn(binary, ['--listen', `127.0.0.1:${port}`], { stdio: 'ignore', env: { ...process.env, RUSTLESS_ACCESS_LOG: '0' } });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/`).then((r) => r.status).catch(() => 0)) === 404, `runner on ${base}`);
  return { pid: child.pid, base };
}

/** A wrk script for the request: GET /hello/pi, or POST /echo with a 1 KiB JSON body. */
async function writeScript(file, method, headers) {
  const lines = Object.entries(headers).map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  if (method === 'POST') lines.push('wrk.method = "POST"', 'wrk.path = "/echo"', 'wrk.headers["Content-Type"] = "application/json"', `wrk.body = ${JSON.stringify(body(1024))}`);
  else lines.push('wrk.path = "/hello/pi"');
  await fs.writeFile(file, lines.join('\n') + '\n');
}

async function wrk(base, method, c, s, script) {
  const { stdout } = await $`wrk -t1 -c${c} -d${s}s --timeout 10s --latency -s ${script} ${base}`;
  const unit = (text) => {
    const m = /([\d.]+)(us|ms|s)/.exec(text);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const done = /(\d+) requests in ([\d.]+)(ms|s)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    requests: Number(done[1]),
    seconds: Number(done[2]) / (done[3] === 'ms' ? 1000 : 1),
    p50: unit(/ 50%\s+(\S+)/.exec(stdout)[1]),
    p99: unit(/ 99%\s+(\S+)/.exec(stdout)[1]),
    errors: non2xx + (socketErrors ? socketErrors.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0),
  };
}

/** A JSON object of exactly `size` bytes. */
function body(size) {
  return JSON.stringify({ data: 'x'.repeat(size - 11) });
}

async function expectStatus(target, status, payload) {
  const response = await fetch(target, payload ? { method: 'POST', body: payload, headers: { 'content-type': 'application/json' } } : {});
  await response.text();
  if (response.status !== status) throw new Error(`${target} answered ${response.status}, expected ${status}`);
}

function cpuTicks(pids) {
  let ticks = 0;
  for (const pid of pids) {
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

async function waitFor(check, what) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`${what} did not come up`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Milliseconds `fn` took. */
async function timed(fn) {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

function pct(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values) {
  return pct(values, 0.5);
}

function fmt(value, digits = 1) {
  return value.toFixed(digits);
}
