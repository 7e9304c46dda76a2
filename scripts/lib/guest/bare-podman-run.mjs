#!/usr/bin/env node
// Runs in a test host (namespace or VM): `podman run` of an app's image with the flags Quadlet
// uses, the runner binding a socket in a volume itself, timed from the command to the first
// 200. The yardstick a cold start is compared with (scripts/bench-systemd.mjs, bench-pi.mjs).
//   node bare-podman-run.mjs IMAGE COUNT [--no-memory]   -> a JSON array of milliseconds
// --no-memory: without --memory, which crun refuses when the kernel has no memory controller.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';

const [image, count = '10', flag] = process.argv.slice(2);
if (!image || !/^\d+$/.test(count)) {
  console.error('usage: bare-podman-run.mjs IMAGE COUNT [--no-memory]');
  process.exit(2);
}
const get = (socketPath) =>
  new Promise((resolve) => {
    const headers = { 'x-rustless-function': 'Hello', 'x-rustless-params': '{"name":"bare"}', connection: 'close' };
    const req = http.request({ socketPath, path: '/hello/bare', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
const times = [];
for (let i = 0; i < Number(count); i++) {
  const dir = `/tmp/bare${i}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  const t0 = performance.now();
  const memory = flag === '--no-memory' ? [] : ['--memory=128m'];
  const args = ['run', '-d', '--rm', '--name', 'bare-bench', '--replace', '--network', 'none', '--read-only', '--cap-drop', 'all', '--security-opt=no-new-privileges', '--user', '65534:65534', ...memory, '--pids-limit', '64', '-v', `${dir}:/s`, image, '--listen', '/s/app.sock'];
  const run = spawnSync('podman', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  while ((await get(`${dir}/app.sock`)) !== 200) await new Promise((r) => setTimeout(r, 2));
  times.push(performance.now() - t0);
  execFileSync('podman', ['rm', '-f', '-t', '0', 'bare-bench'], { stdio: 'ignore' });
}
console.log(JSON.stringify(times));
