#!/usr/bin/env zx
// The main job on a fresh machine: checks the machine (as root, it installs the missing Debian
// packages and creates the build user itself; otherwise it stops at once with the command to
// run), starts the gateway on the local backend, deploys the example apps, and prints how to
// call them. Ctrl-C stops it all; so does any failure, which also stops the gateway it started.
// Flags: --port 8080, --state-dir DIR, --no-examples.
import { ensureBinding } from './lib/sd-notify-binding.mjs';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const port = String(argv.port ?? 8080);
const stateArgs = argv['state-dir'] ? ['--state-dir', String(argv['state-dir'])] : [];
const isRoot = process.getuid() === 0;
const setupSystem = path.join(__dirname, 'setup-system.mjs');
// zx itself, by path: `zx` is on PATH only under npm.
const zx = [process.execPath, require.resolve('zx/cli')];
let gateway;
let gatewayExited = false;
let stopping = false;

if (!fs.existsSync(cli)) await $({ cwd: root, stdio: 'inherit' })`node scripts/build.mjs`;

let doctor = await $({ nothrow: true })`node ${cli} doctor`;
if (doctor.exitCode !== 0 && isRoot) {
  process.stdout.write(doctor.stdout);
  echo('installing what is missing (scripts/setup-system.mjs --for local)...');
  const setup = await $({ nothrow: true, stdio: 'inherit' })`${zx} ${setupSystem} --for local`;
  if (setup.exitCode !== 0) await stop(`scripts/setup-system.mjs failed (exit ${setup.exitCode}); fix the error above and run npm start again`);
  doctor = await $({ nothrow: true })`node ${cli} doctor`;
}
process.stdout.write(doctor.stdout);
if (doctor.exitCode !== 0) {
  if (isRoot) await stop('still not ready after installing the packages: fix what is MISSING above, then run npm start again');
  const command = (await $`${zx} ${setupSystem} --for local --print`).stdout.trim();
  await stop(`not ready. Run this as root, then npm start again (or run \`sudo npm start\`, which does it):\n  sudo sh -c '${command}'`);
}
// Builds and runners drop to this user when the gateway runs as root (see docs/design.md).
if (isRoot) await $`${zx} ${setupSystem} --user-only`;
// The local backend runs without it; a gateway under systemd wants it (see docs/systemd.md).
const binding = await ensureBinding(root, { log: (line) => echo(`npm start: ${line}`) });
echo(binding.ok ? `npm start: ${binding.detail}` : chalk.yellow(`npm start: the sd-notify binding is NOT there: ${binding.detail} (the local backend does not need it; rustless.service does)`));

gateway = $({ stdio: ['ignore', 'pipe', 'inherit'], nothrow: true })`node ${cli} gateway --backend local --port ${port} ${stateArgs}`;
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopGateway().then(() => process.exit(130)));
void gateway.then(async (result) => {
  gatewayExited = true;
  if (!stopping) await stop(`the gateway exited unexpectedly (${result.signal ?? `exit ${result.exitCode}`})`);
});

const listening = await new Promise((resolve) => {
  gateway.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const match = /listening on (http:\/\/\S+) \(admin (\S+?),/.exec(String(chunk));
    if (match) resolve({ url: match[1], admin: match[2] });
  });
});

// minimist reads --no-examples as examples=false.
if (argv.examples !== false) {
  for (const app of ['hello', 'echo', 'todo']) {
    echo(`deploying runner/examples/${app} ...`);
    const started = Date.now();
    const deploy = await $({ stdio: 'inherit', nothrow: true })`node ${cli} deploy ${path.join(root, 'runner', 'examples', app)} --host ${listening.admin}`;
    if (deploy.exitCode !== 0) await stop(`deploying ${app} failed (above); the gateway is stopped`);
    echo(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

const url = listening.url.replace('0.0.0.0', '127.0.0.1');
echo(chalk.bold(`
rust-less is serving on ${url}. Try:
  curl ${url}/hello/pi
  curl -X POST -H 'content-type: application/json' -d '{"title":"water the plants"}' ${url}/todos
  node dist/cli/main.js ls --host ${listening.admin}
Ctrl-C stops the gateway.`));
await gateway;

/** Stops the gateway this script started (SIGTERM: it drains), once. */
async function stopGateway() {
  if (!gateway || stopping || gatewayExited) return;
  stopping = true;
  gateway.kill('SIGTERM');
  await gateway;
}

/** Says why, stops whatever this script started, and exits non-zero. */
async function stop(message) {
  echo(chalk.red(`npm start: ${message}`));
  await stopGateway();
  process.exit(1);
}
