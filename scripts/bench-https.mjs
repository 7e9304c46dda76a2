#!/usr/bin/env zx
// What HTTPS at the edge costs (issue #20): the added p50 of a request through Caddy (Debian's,
// as `install.mjs --public` sets it up: TLS, HTTP/2, reverse proxy to the gateway on loopback)
// against the same request sent to the gateway straight, in one run, and Caddy's memory.
// A local-backend gateway serves the hello example; Caddy runs here with its own internal CA
// (`tls internal`: no ACME on a bench) on free ports. One client (undici), one keep-alive
// connection, requests one after another, in interleaved rounds so that both paths see the same
// moments of a shared machine. Prints p50/p99 per path, the added p50 and the ratio, and
// Caddy's RSS idle and after the runs. Loopback only; nothing is asserted.
// Flags: --rounds 6 --requests 2000 --cache-dir DIR (reuse a cargo cache).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { connect as connectH2 } from 'node:http2';
import { Client } from 'undici';
import { freePort } from './lib/free-port.mjs';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const rounds = Number(argv.rounds ?? 6);
const perRound = Math.max(1, Math.round(Number(argv.requests ?? 2000) / rounds));
const log = (text) => process.stderr.write(`[bench-https] ${text}\n`);
if (!(await which('caddy', { nothrow: true }))) {
  echo('caddy is missing: apt-get install caddy');
  process.exit(1);
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-bench-https-'));
// As root the local backend builds and runs functions as an unprivileged user, who must get through.
await fs.chmod(work, 0o755);
const cacheDir = argv['cache-dir'] ? path.resolve(argv['cache-dir']) : path.join(work, 'cargo-cache');
const children = [];

try {
  const gateway = spawn(process.execPath, [cli, 'gateway', '--backend', 'local', '--port', '0', '--listen', '127.0.0.1', '--state-dir', path.join(work, 'state'), '--cache-dir', cacheDir, '--idle-timeout', '3600', '--trust-proxy', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(gateway);
  const { url, admin } = await new Promise((resolve) => {
    createInterface({ input: gateway.stdout }).on('line', (line) => {
      const match = /listening on (http:\/\/\S+) \(admin (\S+?),/.exec(line);
      if (match) resolve({ url: match[1], admin: match[2] });
    });
  });
  const hello = path.join(work, 'hello');
  await fs.copy(path.join(root, 'runner', 'examples', 'hello'), hello, { filter: (src) => !src.includes('/target') });
  log('building hello');
  await $`node ${cli} deploy ${hello} --host ${admin}`.quiet();

  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const caddyfile = path.join(work, 'Caddyfile');
  await fs.writeFile(
    caddyfile,
    `{\n\tadmin off\n\tskip_install_trust\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tstorage file_system ${path.join(work, 'caddy')}\n}\n\n` +
      `localhost {\n\ttls internal\n\treverse_proxy ${new URL(url).host}\n}\n`,
  );
  const caddy = spawn('caddy', ['run', '--adapter', 'caddyfile', '--config', caddyfile], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(caddy);
  const caddyLog = [];
  createInterface({ input: caddy.stderr }).on('line', (line) => caddyLog.push(line));
  const rootCert = path.join(work, 'caddy', 'pki', 'authorities', 'local', 'root.crt');
  const https = `https://localhost:${httpsPort}`;

  // Caddy makes its CA and the site's certificate at start; the clients trust that CA only.
  await waitFor(() => fs.pathExists(rootCert), 20_000, `Caddy's internal CA (${caddyLog.slice(-3).join(' | ')})`);
  const ca = await fs.readFile(rootCert, 'utf8');
  const h1 = new Client(https, { connect: { ca, servername: 'localhost' } });
  await waitFor(async () => (await undiciGet(h1).catch(() => undefined))?.status === 200, 20_000, 'Caddy serving the site');
  const h2 = connectH2(https, { ca, servername: 'localhost' });
  await new Promise((resolve, reject) => h2.once('connect', resolve).once('error', reject));
  if (h2.alpnProtocol !== 'h2') throw new Error(`Caddy negotiated ${h2.alpnProtocol}, not h2`);
  const plain = new Client(url);
  const clients = {
    'gateway, HTTP/1.1': () => undiciGet(plain),
    'Caddy, HTTPS + HTTP/1.1': () => undiciGet(h1),
    'Caddy, HTTPS + HTTP/2': () => h2Get(h2),
  };
  const rssIdle = rss(caddy.pid);

  const samples = Object.fromEntries(Object.keys(clients).map((name) => [name, []]));
  for (const name of Object.keys(clients)) for (let i = 0; i < 200; i++) await clients[name]();
  for (let round = 0; round < rounds; round++) {
    // Each path goes first in some rounds.
    const order = Object.keys(clients);
    for (let i = 0; i < round % order.length; i++) order.push(order.shift());
    for (const name of order) {
      for (let i = 0; i < perRound; i++) {
        const reply = await clients[name]();
        if (reply.status !== 200) throw new Error(`${name}: status ${reply.status}`);
        samples[name].push(reply.ms);
      }
    }
    log(`round ${round + 1}/${rounds}`);
  }
  const rssAfter = rss(caddy.pid);

  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const [baseName, ...others] = Object.keys(samples);
  echo(`GET /hello/pi, one keep-alive connection, ${samples[baseName].length} requests per path in ${rounds} interleaved rounds; load average ${load}`);
  const base = quantile(samples[baseName], 0.5);
  echo('| path | p50 | p99 | added p50 | x gateway p50 |');
  echo('| --- | --- | --- | --- | --- |');
  echo(`| ${baseName} | ${ms(base)} | ${ms(quantile(samples[baseName], 0.99))} | | 1.00 |`);
  for (const name of others) {
    const p50 = quantile(samples[name], 0.5);
    echo(`| ${name} | ${ms(p50)} | ${ms(quantile(samples[name], 0.99))} | +${ms(p50 - base)} | ${(p50 / base).toFixed(2)} |`);
  }
  echo(`Caddy RSS: ${mib(rssIdle.rss)} idle with its certificate, ${mib(rssAfter.rss)} after the runs (peak ${mib(rssAfter.hwm)})`);
  await plain.close();
  await h1.close();
  h2.close();
} finally {
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
  await fs.remove(work);
}

/** One GET /hello/pi over an undici client: status and milliseconds. */
async function undiciGet(client) {
  const started = performance.now();
  const response = await client.request({ method: 'GET', path: '/hello/pi' });
  await response.body.text();
  return { status: response.statusCode, ms: performance.now() - started };
}

/** The same over an HTTP/2 session (node:http2: undici does not say which protocol it used). */
function h2Get(session) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': '/hello/pi' });
    let status = 0;
    stream.on('response', (headers) => (status = headers[':status']));
    stream.on('data', () => {});
    stream.on('end', () => resolve({ status, ms: performance.now() - started }));
    stream.on('error', reject);
  });
}

function quantile(list, q) {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

function ms(value) {
  return `${value.toFixed(3)} ms`;
}

function mib(kib) {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
