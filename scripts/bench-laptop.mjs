#!/usr/bin/env zx
// Issue 19's figures: how long each step a laptop user types takes through the ssh:// tunnel,
// beside the same step typed on the Pi itself (as `pi`, a member of the rustless group, over the
// admin unix socket), in the same run, as ratios. The Pi is the test host (systemd backend,
// Debian's sshd), the laptop an unprivileged user of this machine (scripts/lib/laptop-pi.mjs).
// Yardsticks in the same run: `true` on each side (what running a command costs there) and
// `ssh pi true` (what one ssh connection costs: the floor under every ssh:// command).
// Needs root; boots a test host, so run it under the e2e lock:
//   flock /tmp/rustless-e2e.lock npx zx scripts/bench-laptop.mjs --rounds 5
// `--pi local` plays the Pi on this machine instead (a local-backend gateway, a user rl-pi, sshd on
// loopback; scripts/lib/local-pi.mjs): no test host, no lock, and no export (a local backend's
// runner is not static).
import { bootPi, makeLaptop, removeLaptop } from './lib/laptop-pi.mjs';
import { startLocalPi } from './lib/local-pi.mjs';
import { down } from './lib/testhost.mjs';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const rounds = Number(argv.rounds ?? 5);
const name = String(argv.name ?? 'bench-laptop');
const log = (line) => process.stderr.write(`${line}\n`);

const local = argv.pi === 'local';
const pi = local ? await startLocalPi() : await bootPi({ name, log: (m) => log(`[testhost] ${m}`) });
// Not the e2e test's user: --pi local runs without the lock, maybe beside that test.
const user = local ? 'rl-laptop-bench' : undefined;
let laptop;
try {
  laptop = await makeLaptop(pi, { user });
  const must = (side, result, what) => {
    if (result.exitCode !== 0) throw new Error(`${what} failed on the ${side}: ${result.stderr || result.stdout}`);
    return result;
  };
  must('laptop', await laptop.run(`cp -r ${root}/runner/examples/hello hello && rm -rf hello/target`), 'copying hello');
  must('Pi', await pi.asPi(`cp -r ${pi.repo}/runner/examples/hello hello && rm -rf hello/target`), 'copying hello');
  // The first build fills the Pi's crate cache; every deploy measured after it is a rebuild.
  // A second one gives rollback two builds to go between.
  must('Pi', await pi.asPi('rustless deploy hello'), 'the first deploy');
  must('Pi', await pi.asPi('rustless deploy hello'), 'the second deploy');
  const builds = JSON.parse(must('Pi', await pi.asPi('rustless ls --json'), 'ls').stdout).find((app) => app.name === 'hello').currentBuild;
  let rollbacks = 0;

  const sides = {
    pi: (args, input) => pi.asPi(`rustless ${args}`, { input }),
    laptop: (args, input) => laptop.run(`rustless --host ${pi.sshUrl} ${args}`, { input }),
  };
  const timed = async (run) => {
    const started = performance.now();
    const result = await run();
    return { ms: performance.now() - started, result };
  };
  const steps = [
    { step: 'ls', args: 'ls' },
    { step: 'invoke', args: 'invoke GET /hello/bench' },
    { step: 'logs', args: 'logs hello --lines 50' },
    { step: 'secret set', args: 'secret set hello BENCH_TOKEN', input: 'bench\n' },
    { step: 'rollback', args: () => `rollback hello --build ${rollbacks++ % 2 ? builds : builds - 1}` },
    { step: 'deploy (a rebuild)', args: 'deploy hello', rounds: Math.min(rounds, 3) },
    ...(local ? [] : [{ step: 'export --kind deployment', args: 'export hello --kind deployment --out k8s' }]),
  ];
  const rows = [];
  const yard = { pi: [], laptop: [], ssh: [], cliPi: [], cliLaptop: [] };
  for (let i = 0; i < rounds; i++) {
    yard.pi.push((await timed(() => pi.asPi('true'))).ms);
    yard.laptop.push((await timed(() => laptop.run('true'))).ms);
    // The CLI's own start (node, its modules) on each side, no connection: the Pi's node is not
    // the laptop's (the test host runs its own Debian nodejs from its own root).
    yard.cliPi.push((await timed(async () => must('Pi', await pi.asPi('rustless --version'), 'rustless --version'))).ms);
    yard.cliLaptop.push((await timed(async () => must('laptop', await laptop.run('rustless --version'), 'rustless --version'))).ms);
    yard.ssh.push((await timed(async () => must('laptop', await laptop.run('ssh -o BatchMode=yes pi true'), 'ssh pi true'))).ms);
  }
  for (const { step, args, input, rounds: n = rounds } of steps) {
    const times = { pi: [], laptop: [] };
    for (let i = 0; i < n; i++) {
      // Alternate which side goes first, so neither always meets a warmer Pi.
      for (const side of i % 2 ? ['laptop', 'pi'] : ['pi', 'laptop']) {
        const { ms, result } = await timed(() => sides[side](typeof args === 'function' ? args() : args, input));
        must(side, result, `rustless ${args}`);
        times[side].push(ms);
      }
    }
    rows.push({ step, n, pi: median(times.pi), laptop: median(times.laptop) });
    log(`${step}: Pi ${median(times.pi).toFixed(0)} ms, laptop ${median(times.laptop).toFixed(0)} ms`);
  }
  // rm once a side: the laptop removes hello, the Pi deploys it again and removes it.
  const rmLaptop = await timed(async () => must('laptop', await sides.laptop('rm hello'), 'rm hello'));
  must('Pi', await pi.asPi('rustless deploy hello'), 'deploying hello again');
  const rmPi = await timed(async () => must('Pi', await sides.pi('rm hello'), 'rm hello'));
  rows.push({ step: 'rm (once)', n: 1, pi: rmPi.ms, laptop: rmLaptop.ms });

  const where = local ? 'this machine as the Pi: local backend, sshd on loopback' : "the test host as the Pi: systemd backend, Debian's sshd";
  console.log(`\nrustless from a laptop (${pi.sshUrl}; ${where}) against the same step on the Pi; median of ${rounds} rounds (deploy: ${Math.min(rounds, 3)}), ms`);
  console.log(`yardsticks: a command on the Pi ${median(yard.pi).toFixed(0)}, on the laptop ${median(yard.laptop).toFixed(0)}, one ssh connection (ssh pi true) ${median(yard.ssh).toFixed(0)}`);
  console.log(`            rustless --version (the CLI starting, nothing else) on the Pi ${median(yard.cliPi).toFixed(0)}, on the laptop ${median(yard.cliLaptop).toFixed(0)}`);
  if (!local) console.log(`the exported image: ${(Number((await laptop.run('stat -c %s k8s/hello/image.tar')).stdout.trim()) / 2 ** 20).toFixed(1)} MiB`);
  console.log('');
  const table = [['step', 'on the Pi', 'laptop, ssh://', 'laptop / Pi', 'laptop - Pi', '(laptop - Pi) / ssh'], ...rows.map((r) => [r.step, r.pi.toFixed(0), r.laptop.toFixed(0), `${(r.laptop / r.pi).toFixed(2)}x`, (r.laptop - r.pi).toFixed(0), ((r.laptop - r.pi) / median(yard.ssh)).toFixed(2)])];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
} finally {
  await removeLaptop(user);
  if (local) await pi.stop();
  else await down({ name, log: () => {} });
}

function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
