#!/usr/bin/env zx
// Measures sandboxed builds on the systemd backend in a booted trixie test host
// (scripts/lib/testhost.mjs), rust-less installed by scripts/install.mjs as a user would, and
// prints, for one checkout:
//   - the first build on a fresh machine (runner/examples/hello);
//   - a one-line rebuild of hello: the yardstick;
//   - the first build of a new app (hello's code as the app `hello2`), as a ratio to the yardstick;
//   - each build's peak memory, sampled by this script from the build unit's memory cgroup (and
//     the figure the build log reports, where the checkout reports one);
//   - the attempts of this checkout's hostile fixture (test/e2e/fixtures/hostile) in that sandbox.
// --checkout DIR installs another checkout (with its own dist/ built) with this script's
// fixture, so the same script measures before and after a change. --keep leaves the host up.
// Needs root; run it under `flock /tmp/rustless-e2e.lock` (the test host shares the network).
import { performance } from 'node:perf_hooks';
import { boot, down } from './lib/testhost.mjs';
import { freePort } from './lib/free-port.mjs';

$.verbose = false;
const self = path.resolve(__dirname, '..');
const checkout = path.resolve(String(argv.checkout ?? self));
const NAME = String(argv.name ?? 'bench-build');
const SRC = '/src/rustless';
const BENCH = '/src/bench';
const log = (text) => process.stderr.write(`[bench-build] ${text}\n`);

// Runs in the guest: every 100 ms, the highest memory use of each rustless-build-* unit's
// cgroup (v1 memory.max_usage_in_bytes, or cgroup2 memory.peak), written out as JSON.
const SAMPLER = `
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
const out = process.argv[2];
const roots = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'];
const peaks = {};
function scan(dir, depth) {
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const path = dir + '/' + e.name;
    if (/^rustless-build-.*\\.service$/.test(e.name)) {
      for (const file of ['memory.max_usage_in_bytes', 'memory.peak']) {
        try {
          const bytes = Number(readFileSync(path + '/' + file, 'utf8'));
          if (bytes > (peaks[e.name] ?? 0)) peaks[e.name] = bytes;
        } catch {}
      }
    } else if (depth > 0) scan(path, depth - 1);
  }
}
setInterval(() => {
  for (const root of roots) scan(root, 5);
  writeFileSync(out, JSON.stringify(peaks));
}, 100);
`;

if (process.getuid() !== 0) throw new Error('bench-build needs root (it boots the test host)');
if (!fs.existsSync(path.join(checkout, 'dist', 'cli', 'main.js'))) throw new Error(`${checkout}/dist is missing: run \`npm run build\` there first`);

const port = argv.port ? Number(argv.port) : await freePort();
const binds = [{ host: checkout, guest: SRC, readOnly: true }, { host: self, guest: BENCH, readOnly: true }];
// node_modules may be a symlink out of the checkout (a git worktree sharing another's): bind it at the same path.
const modules = fs.realpathSync(path.join(checkout, 'node_modules'));
if (!modules.startsWith(`${checkout}/`)) binds.push({ host: modules, guest: modules, readOnly: true });
const commit = String(argv.label ?? '') || (await $({ nothrow: true })`git -C ${checkout} log -1 --format=%h`).stdout.trim() || 'not a git checkout';
const host = await boot({ name: NAME, binds, log });
try {
  await guest(`cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${port}`);
  await guest([
    'mkdir -p /root/apps',
    'cp -r /src/rustless/runner/examples/hello /root/apps/hello && rm -rf /root/apps/hello/target',
    // The same code as a new app: another package name, app name and route.
    'cp -r /root/apps/hello /root/apps/hello2',
    `sed -i 's/^name = "hello"/name = "hello2"/' /root/apps/hello2/Cargo.toml /root/apps/hello2/rustless.toml`,
    `sed -i 's#"/hello#"/hello2#' /root/apps/hello2/rustless.toml`,
    `cp -r ${BENCH}/test/e2e/fixtures/hostile /root/apps/hostile`,
    `sed -i 's/const GATEWAY_PORT: u16 = 8080;/const GATEWAY_PORT: u16 = ${port};/' /root/apps/hostile/build.rs`,
  ].join(' && '));
  await host.writeFile('/root/peak-sampler.mjs', SAMPLER);
  await guest('nohup node /root/peak-sampler.mjs /root/peaks.json >/dev/null 2>&1 &');

  log('first build on this machine: hello');
  const first = await timedDeploy('hello');
  await guest(`sed -i 's/"hello {}"/"hello, {}"/' /root/apps/hello/src/lib.rs`);
  log('one-line rebuild of hello');
  const rebuild = await timedDeploy('hello');
  log('first build of a new app: hello2');
  const fresh = await timedDeploy('hello2');
  log('the hostile fixture');
  const hostile = await timedDeploy('hostile', { mayFail: true });
  // Each attempt once: the failed build's message repeats the lines --verbose printed.
  const attempts = [...new Map([...hostile.output.matchAll(/rustless-escape ([a-z0-9-]+): (blocked|ESCAPED) \((.*)\)$/gm)].map((m) => [m[1], { name: m[1], verdict: m[2], detail: m[3] }])).values()];
  await sleep(500);
  const peaks = JSON.parse((await guest('cat /root/peaks.json')).stdout || '{}');
  const peakOf = (app, build) => peaks[`rustless-build-${app}-${build.id}.service`];

  const mib = (bytes) => (bytes === undefined ? '      -' : `${(bytes / 2 ** 20).toFixed(0).padStart(4)} MiB`);
  console.log(`rust-less sandboxed builds, systemd backend, trixie test host; checkout ${checkout} (${commit})`);
  console.log(`  toolchain in the guest: ${(await guest('cargo --version; rustc --version')).stdout.trim().replace('\n', ', ')}`);
  console.log('');
  console.log('                                                 time      ratio   peak (cgroup)   peak (build log)');
  const row = (label, r, ratio) => console.log(`  ${label.padEnd(44)} ${r.seconds.toFixed(1).padStart(6)} s  ${ratio}   ${mib(peakOf(r.app, r)).padStart(13)}   ${(r.loggedPeak ?? '-').padStart(16)}`);
  row('first build on this machine (hello)', first, `${(first.seconds / rebuild.seconds).toFixed(2).padStart(5)}x`);
  row('one-line rebuild of hello (yardstick)', rebuild, ' 1.00x');
  row('first build of a new app (hello2)', fresh, `${(fresh.seconds / rebuild.seconds).toFixed(2).padStart(5)}x`);
  console.log('');
  const escaped = attempts.filter((a) => a.verdict === 'ESCAPED');
  console.log(`hostile build.rs: ${attempts.length - escaped.length} of ${attempts.length} attempts blocked${hostile.output.includes('rustless-escape: report done') ? '' : ' (its report did not finish)'}`);
  for (const a of attempts) console.log(`  ${a.verdict.padEnd(8)} ${a.name.padEnd(28)} ${a.detail.slice(0, 110)}`);
} finally {
  if (!argv.keep) await down({ name: NAME, log });
  else log(`left running: node scripts/testhost.mjs shell --name ${NAME}`);
}

/** A guest command with a clean environment; rejects when it fails unless `mayFail`. */
async function guest(cmd, { mayFail = false } = {}) {
  const env = ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8'];
  const result = await host.run([...env, '/bin/sh', '-c', cmd]);
  if (result.exitCode !== 0 && !mayFail) throw new Error(`${cmd} exited ${result.exitCode}:\n${result.stdout}${result.stderr}`);
  return result;
}

/** Deploys /root/apps/APP with `--verbose` (every build line), timed; the build's record and its logged peak. */
async function timedDeploy(app, { mayFail = false } = {}) {
  const t0 = performance.now();
  const result = await guest(`rustless deploy --verbose /root/apps/${app}`, { mayFail });
  const seconds = (performance.now() - t0) / 1000;
  const output = result.stdout + result.stderr;
  const id = Number(/: build #(\d+)/.exec(output)?.[1]);
  const loggedPeak = /^rustless: peak build memory ([^,(\n]+)/m.exec(output)?.[1]?.trim();
  log(`${app}: build #${id} in ${seconds.toFixed(1)} s${loggedPeak ? `, peak ${loggedPeak}` : ''}`);
  return { app, id, seconds, output, loggedPeak };
}
