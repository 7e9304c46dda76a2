#!/usr/bin/env zx
// The main job on a fresh machine: checks the machine (installing missing Debian packages
// when it may), starts the gateway on the local backend, deploys the example apps, and prints
// how to call them. Ctrl-C stops it all. Flags: --port 8080, --state-dir DIR, --no-examples.
$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const port = String(argv.port ?? 8080);
const stateArgs = argv['state-dir'] ? ['--state-dir', String(argv['state-dir'])] : [];

if (!fs.existsSync(cli)) await $({ cwd: root, stdio: 'inherit' })`npx tsc -p tsconfig.json`;

let doctor = await $({ nothrow: true })`node ${cli} doctor`;
if (doctor.exitCode !== 0 && process.getuid() === 0) {
  echo('installing missing Debian packages (scripts/setup-system.mjs)...');
  await $({ stdio: 'inherit' })`zx ${path.join(__dirname, 'setup-system.mjs')} --for local`;
  doctor = await $({ nothrow: true })`node ${cli} doctor`;
}
process.stdout.write(doctor.stdout);
if (doctor.exitCode !== 0) {
  echo(chalk.red('fix what is MISSING above (as root: npm start installs it), then run npm start again'));
  process.exit(1);
}

const gateway = $({ stdio: ['ignore', 'pipe', 'inherit'] })`node ${cli} gateway --backend local --port ${port} ${stateArgs}`;
const listening = await new Promise((resolve, reject) => {
  gateway.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const match = /listening on (http:\/\/\S+) \(admin (\S+?),/.exec(String(chunk));
    if (match) resolve({ url: match[1], admin: match[2] });
  });
  gateway.catch(reject);
});

if (!argv['no-examples']) {
  for (const app of ['hello', 'echo', 'todo']) {
    echo(`deploying runner/examples/${app} ...`);
    const started = Date.now();
    await $({ stdio: 'inherit' })`node ${cli} deploy ${path.join(root, 'runner', 'examples', app)} --host ${listening.admin}`;
    echo(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

const url = listening.url.replace('0.0.0.0', '127.0.0.1');
echo(chalk.bold(`
rust-less is serving on ${url}. Try:
  curl ${url}/hello/pi
  curl -X POST -H 'content-type: application/json' -d '{"title":"water the plants"}' ${url}/todos
  node dist/cli/main.js ls
Ctrl-C stops the gateway.`));

process.on('SIGINT', () => gateway.kill('SIGTERM'));
await gateway.nothrow();
