#!/usr/bin/env zx
// Installs the Debian packages rust-less needs: `--for local` (default) or `--for test`.
// The lists live in scripts/packages/*.txt, which .ci/run reads too: local.txt and crates.txt
// (generated from runner/'s manifests) for the main job, test.txt on top for the tests.
// It also creates the system user `rustless-fn` that builds and runners run as when the gateway
// runs as root (`--user-only` does just that). `--print` only prints the apt-get command.
const purpose = String(argv.for ?? 'local');
if (purpose !== 'local' && purpose !== 'test') throw new Error(`--for must be local or test, got ${JSON.stringify(purpose)}`);
const lists = purpose === 'test' ? ['local', 'crates', 'test'] : ['local', 'crates'];
const packages = [];
for (const list of lists) {
  const file = path.join(__dirname, 'packages', `${list}.txt`);
  packages.push(...fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
}
if (argv['user-only']) {
  await ensureBuildUser();
  process.exit(0);
}
const command = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages.join(' ')}`;
if (argv.print) {
  echo(command);
  process.exit(0);
}
const sudo = process.getuid() === 0 ? [] : ['sudo'];
await $`${sudo} apt-get update -qq`;
await $`${sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages}`;
echo(`installed: ${packages.join(' ')}`);
if (process.getuid() === 0) await ensureBuildUser();

/**
 * The unprivileged user of the local backend's builds and runners. Its own group, not
 * `rustless`: that group opens the admin socket, which a function must not reach.
 */
async function ensureBuildUser() {
  if ((await $({ nothrow: true })`getent passwd rustless-fn`).exitCode === 0) return;
  await $`useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment ${'rust-less builds and functions (local backend)'} rustless-fn`;
  echo('created the system user rustless-fn (builds and functions run as it when the gateway runs as root)');
}
