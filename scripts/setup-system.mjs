#!/usr/bin/env zx
// Installs the Debian packages rust-less needs: `--for local` (default) or `--for test`.
// The lists live in scripts/packages/*.txt, which .ci/run reads too. Installs cargo from
// Debian only when no cargo is on PATH (rustup's is newer and preferred).
const purpose = String(argv.for ?? 'local');
const lists = purpose === 'test' ? ['local', 'test'] : [purpose];
const packages = [];
for (const list of lists) {
  const file = path.join(__dirname, 'packages', `${list}.txt`);
  if (!fs.existsSync(file)) throw new Error(`no package list ${file}; use --for local or --for test`);
  packages.push(...fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
}
if (!(await hasCommand('cargo'))) packages.push('cargo');
const sudo = process.getuid() === 0 ? [] : ['sudo'];
await $`${sudo} apt-get update -qq`;
await $`${sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages}`;
echo(`installed: ${packages.join(' ')}`);

async function hasCommand(cmd) {
  return (await $({ nothrow: true })`command -v ${cmd}`).exitCode === 0;
}
