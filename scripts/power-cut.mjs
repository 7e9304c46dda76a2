#!/usr/bin/env zx
// Pulls the plug on a Pi, again and again: an arm64 VM with rust-less installed and apps deployed
// (scripts/lib/power-cut/rig.mjs) is killed (SIGKILL to qemu: the guest's unwritten page cache is
// lost, as on a Pi that loses power) at a random moment of a deploy, a rollback, an rm, a
// `secret set`, todo under POST load, an idle freeze and stop, or a gateway restart; then the same
// disk boots again and, with no human step, every promise is checked: the sockets and the gateway
// come up, every app answers with its last build reported live, every todo that got a 201 is
// there, each secret has its old or its new value, the registry passes its integrity check,
// Podman works. Prints the cuts per moment and what recovery did. docs/power-loss.md has a run.
//
//   sudo npx zx scripts/power-cut.mjs [--cuts 30] [--moments deploy,rollback,rm,secret,post,idle,restart]
//        [--name power-cut] [--seed N] [--cpus 2] [--memory 2048] [--resume | --attach] [--keep] [--node-modules-layer DIR]
//
// --resume boots the disk a previous run kept (--keep) with its ledger of promises, skipping the
// set-up (install and first builds take a long time under emulation).
import fs from 'node:fs';
import path from 'node:path';
import { MOMENT_NAMES, MOMENTS, seeded } from './lib/power-cut/moments.mjs';
import { PowerCutRig, REPO_ROOT } from './lib/power-cut/rig.mjs';

const cuts = Number(argv.cuts ?? 30);
if (!Number.isInteger(cuts) || cuts < 1) fail(`Expected --cuts to be a whole number >= 1, got ${JSON.stringify(argv.cuts)}`);
const moments = String(argv.moments ?? MOMENT_NAMES.join(',')).split(',').filter(Boolean);
for (const m of moments) if (!MOMENT_NAMES.includes(m)) fail(`Expected --moments to name some of ${MOMENT_NAMES.join(', ')}, got ${JSON.stringify(m)}`);
const name = String(argv.name ?? 'power-cut');
const seed = Number(argv.seed ?? Date.now() % 1_000_000);
const random = seeded(seed);
if (process.getuid() !== 0) fail('run it as root (sudo): the VM test host needs it');

const rig = new PowerCutRig({ name, root: REPO_ROOT, cpus: Number(argv.cpus ?? 2), memory: Number(argv.memory ?? 2048), nodeModulesLayer: argv['node-modules-layer'], log: (line) => echo(line) });
// Beside the VM's run dir, not in it: `down --keep-disk` keeps only the disk there.
const ledgerFile = path.join('/var/tmp/rustless-power-cut', `${name}.json`);
fs.mkdirSync(path.dirname(ledgerFile), { recursive: true });
const t0 = Date.now();
if (argv.resume) {
  if (!fs.existsSync(ledgerFile)) fail(`--resume: no ledger at ${ledgerFile}; run once with --keep first`);
  rig.restore(JSON.parse(fs.readFileSync(ledgerFile, 'utf8')));
  await rig.boot();
  const first = await rig.verify();
  if (first.problems.length > 0) fail(`the kept disk does not pass the checks before any cut: ${first.problems.join('; ')}`);
} else if (argv.attach) {
  // A set-up that stopped after the install, its VM still up: deploy the apps and go on.
  await rig.attach();
  await rig.deployApps();
} else {
  echo(`setting up VM "${name}" (install, first builds: slow under emulation)`);
  await rig.setup();
}
fs.writeFileSync(ledgerFile, JSON.stringify(rig.snapshot(), null, 2));
echo(`seed ${seed}; ${cuts} cuts over ${moments.join(', ')}`);

const perMoment = Object.fromEntries(moments.map((m) => [m, { cuts: 0, answered: 0, broken: 0, recoveries: [] }]));
const recoveryKinds = new Map();
let broken = 0;
let lost = 0;
for (let i = 0; i < cuts; i++) {
  const moment = moments[i % moments.length];
  const cut = await MOMENTS[moment](rig, random);
  const bootStart = Date.now();
  await rig.boot();
  const { problems, recovery } = await rig.verify();
  fs.writeFileSync(ledgerFile, JSON.stringify(rig.snapshot(), null, 2));
  const stats = perMoment[moment];
  stats.cuts++;
  if (cut.completed) stats.answered++;
  if (problems.length > 0) stats.broken++;
  broken += problems.length > 0 ? 1 : 0;
  lost += problems.filter((p) => /todos that got a 201 are lost/.test(p)).length;
  for (const kind of recoveryKindsOf(recovery)) recoveryKinds.set(kind, (recoveryKinds.get(kind) ?? 0) + 1);
  echo(
    `cut ${i + 1}/${cuts} ${moment} at ${(cut.atMs / 1000).toFixed(1)} s${cut.completed ? ' (after it answered)' : ''}${cut.sent ? ` (${cut.sent} POSTs sent; answers by status: ${JSON.stringify(cut.statuses)})` : ''}: ` +
      `up again in ${((Date.now() - bootStart) / 1000).toFixed(0)} s; ${problems.length === 0 ? 'all promises kept' : `BROKEN: ${problems.join('; ')}`}` +
      `${recovery ? `\n    ${recovery.replaceAll('\n', '\n    ')}` : ''}`,
  );
}

echo(`\n${cuts} cuts in ${((Date.now() - t0) / 60000).toFixed(0)} min (seed ${seed}); ${rig.acked.size} todos acknowledged in all`);
echo('moment     cuts  answered-before-cut  broken');
for (const [m, s] of Object.entries(perMoment)) echo(`${m.padEnd(10)} ${String(s.cuts).padStart(4)}  ${String(s.answered).padStart(19)}  ${String(s.broken).padStart(6)}`);
echo('recovery at the next start (times seen):');
if (recoveryKinds.size === 0) echo('  none logged');
for (const [kind, n] of recoveryKinds) echo(`  ${String(n).padStart(3)}  ${kind}`);
echo(`cuts with a broken promise: ${broken}; acknowledged writes lost: ${lost}`);
if (argv.keep) echo(`VM "${name}" kept: --resume boots it again`);
await rig.down({ keepDisk: Boolean(argv.keep) });
process.exit(broken === 0 ? 0 : 1);

/** The recovery line's actions, with numbers and names taken out, to count them across cuts. */
function recoveryKindsOf(line) {
  const at = line.indexOf('recovery: ');
  if (at < 0) return line ? [line.replace(/\d+/g, 'N').slice(0, 120)] : [];
  return line
    .slice(at + 'recovery: '.length)
    .replace(/ \(registry integrity ok.*$/s, '')
    .split('; ')
    // Ids (layers, images) and counts differ per cut; the kind of repair does not.
    .map((part) => part.replace(/\b[0-9a-f]{12,64}\b/g, 'ID').replace(/#\d+|\d+/g, 'N').replace(/localhost\/rustless-fn-[a-z-]+:N/g, 'IMAGE'));
}

function fail(message) {
  echo(`power-cut: ${message}`);
  process.exit(2);
}
