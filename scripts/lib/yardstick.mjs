// The yardstick of issue #8, shared by scripts/bench.mjs and scripts/bench-systemd.mjs: nginx
// from Debian with one worker, proxying to a runner's unix socket with keep-alive upstream
// connections and the x-rustless-* headers the gateway sends; wrk from Debian as the load; CPU
// time from /proc/<pid>/stat. Loopback only.
import { spawn } from 'node:child_process';
import { $, fs, path, sleep } from 'zx';

export const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

/** Throws when wrk or nginx is missing, naming the package. */
export async function requireTools() {
  for (const tool of ['wrk', 'nginx']) {
    if ((await $`command -v ${tool} || test -x /usr/sbin/${tool}`.nothrow()).exitCode !== 0) throw new Error(`${tool} is missing: apt-get install ${tool}`);
  }
}

/**
 * Starts nginx in the foreground under `dir`, listening on 127.0.0.1:`port`. Each route is
 * `{ location, socket, fn, params }`: `location` as nginx writes it (`/hello/`, `= /echo`).
 * Returns its pids (master and workers) and `stop()`.
 */
export async function startNginx({ dir, port, routes, probe }) {
  await fs.mkdirp(path.join(dir, 'tmp'));
  const upstreams = routes.map((r, i) => `upstream u${i} { server unix:${r.socket}; keepalive 64; }`).join('\n  ');
  const locations = routes
    .map(
      (r, i) =>
        `location ${r.location} { proxy_pass http://u${i}; proxy_http_version 1.1; proxy_set_header Connection ""; ` +
        `proxy_set_header x-rustless-function ${r.fn}; proxy_set_header x-rustless-params '${r.params}'; proxy_set_header x-forwarded-for $remote_addr; }`,
    )
    .join('\n    ');
  const conf = `
${process.getuid() === 0 ? 'user root;' : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fcgi; uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;
  ${upstreams}
  server {
    listen 127.0.0.1:${port};
    ${locations}
  }
}
`;
  await fs.writeFile(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { stdio: 'inherit' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}${probe}`).then((r) => r.status).catch(() => 0)) === 200, 'nginx');
  const workers = (await $`pgrep -P ${child.pid}`).stdout.trim().split('\n').map(Number);
  return {
    base,
    pids: [child.pid, ...workers],
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM')))),
  };
}

/** A wrk script for one request: `{ method, path, headers, body }`. */
export async function writeWrkScript(file, { method = 'GET', path: urlPath, headers = {}, body }) {
  const lines = Object.entries(headers).map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  lines.push(`wrk.method = ${JSON.stringify(method)}`, `wrk.path = ${JSON.stringify(urlPath)}`);
  if (body !== undefined) lines.push(`wrk.body = ${JSON.stringify(body)}`);
  await fs.writeFile(file, lines.join('\n') + '\n');
}

/** One wrk run (one thread): requests, seconds, p50 and p99 in ms, errors (non-2xx/3xx and socket errors). */
export async function wrk({ base, connections, seconds, script }) {
  const { stdout } = await $`wrk -t1 -c${connections} -d${seconds}s --timeout 10s --latency -s ${script} ${base}`;
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

/** User plus system CPU ticks of `pids` so far (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pids) {
  let ticks = 0;
  for (const pid of pids) {
    // The command name may hold spaces: count fields after its closing parenthesis.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

export async function waitFor(check, what) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`${what} did not come up`);
}

