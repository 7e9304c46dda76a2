#!/usr/bin/env zx
// Benchmarks the local backend on this machine and prints the figures issue #2 asks for:
// cold start, warm latency and throughput (through the gateway and straight to the runner's
// socket), memory, and build times. Nothing here is asserted; it only measures.
//   --starts 20  --requests 4000  --concurrency 16  --port 0
import { Pool, request } from 'undici';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const starts = Number(argv.starts ?? 20);
const total = Number(argv.requests ?? 4000);
const concurrency = Number(argv.concurrency ?? 16);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-bench-'));
const cacheDir = path.join(work, 'cargo-cache');

const gateway = spawn(process.execPath, [cli, 'gateway', '--backend', 'local', '--port', String(argv.port ?? 0), '--listen', '127.0.0.1', '--state-dir', path.join(work, 'state'), '--cache-dir', cacheDir, '--idle-timeout', '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
const { url, admin } = await new Promise((resolve) => {
  createInterface({ input: gateway.stdout }).on('line', (line) => {
    const match = /listening on (http:\/\/\S+) \(admin (\S+?),/.exec(line);
    if (match) resolve({ url: match[1], admin: match[2] });
  });
});
const rustless = (...args) => $`node ${cli} ${args} --host ${admin}`;

try {
  // Build times: a first build with an empty dependency cache, then a one-line change.
  const app = path.join(work, 'hello');
  await fs.copy(path.join(root, 'runner', 'examples', 'hello'), app, { filter: (src) => !src.includes('/target') });
  const firstBuildS = await seconds(() => rustless('deploy', app));
  const lib = path.join(app, 'src', 'lib.rs');
  await fs.appendFile(lib, '\n// a one-line change\n');
  const rebuildS = await seconds(() => rustless('deploy', app));

  // Cold start: a stopped app's first request, end to end through the gateway.
  const cold = [];
  for (let i = 0; i < starts; i++) {
    await rustless('stop', 'hello');
    const started = performance.now();
    const response = await request(`${url}/hello/cold`);
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`cold start answered ${response.statusCode}`);
    cold.push(performance.now() - started);
  }

  const gatewayIdleRss = rss(gateway.pid);
  const viaGateway = await load(new Pool(url, { connections: concurrency }), '/hello/warm', {});
  const gatewayLoadRss = viaGateway.peakRss;
  const apps = JSON.parse((await rustless('ls', '--json')).stdout);
  const hello = apps.find((a) => a.name === 'hello');
  const runnerRss = rss(hello.runtime.pid);
  const socketPath = path.join(work, 'state', 'run', 'hello.sock');
  const direct = await load(new Pool('http://runner', { socketPath, connections: concurrency }), '/hello/warm', {
    'x-rustless-function': 'Hello',
    'x-rustless-params': '{"name":"warm"}',
  });

  const line = (label, value) => echo(`${label.padEnd(44)} ${value}`);
  echo(chalk.bold(`\nrust-less local backend, ${os.cpus().length} cores, node ${process.versions.node}`));
  line('cold start p50 / p95 (ms, n=' + starts + ')', `${fmt(pct(cold, 0.5))} / ${fmt(pct(cold, 0.95))}`);
  line(`warm via gateway p50 / p99 (ms, c=${concurrency})`, `${fmt(viaGateway.p50)} / ${fmt(viaGateway.p99)}`);
  line('warm via gateway requests/s', fmt(viaGateway.rps, 0));
  line(`warm direct to runner p50 / p99 (ms, c=${concurrency})`, `${fmt(direct.p50)} / ${fmt(direct.p99)}`);
  line('warm direct to runner requests/s', fmt(direct.rps, 0));
  line('gateway cost: p50 ratio, throughput ratio', `${fmt(viaGateway.p50 / direct.p50, 2)}x, ${fmt(direct.rps / viaGateway.rps, 2)}x`);
  line('gateway RSS idle / under load (MiB)', `${fmt(gatewayIdleRss)} / ${fmt(gatewayLoadRss)}`);
  line('runner RSS after load (MiB)', fmt(runnerRss));
  line('build: first (empty cache) / one-line change (s)', `${fmt(firstBuildS)} / ${fmt(rebuildS)}`);
} finally {
  gateway.kill('SIGTERM');
  await new Promise((resolve) => gateway.once('exit', resolve));
  await fs.remove(work);
}

async function load(pool, path, headers) {
  const latencies = [];
  let peakRss = 0;
  let next = 0;
  const started = performance.now();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rss(gateway.pid))), 100);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const t0 = performance.now();
        const response = await pool.request({ path, method: 'GET', headers });
        await response.body.text();
        if (response.statusCode !== 200) throw new Error(`load answered ${response.statusCode}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  clearInterval(sampler);
  const elapsedS = (performance.now() - started) / 1000;
  await pool.close();
  return { p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), rps: latencies.length / elapsedS, peakRss };
}

async function seconds(fn) {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

function pct(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function fmt(value, digits = 1) {
  return value.toFixed(digits);
}
