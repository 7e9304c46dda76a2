// The shared dependencies a VM's rust-less built, kept on this machine for the next VM.
//
// A Pi builds rust-less's shared dependencies (serde, serde_json, syn, signal-hook and the rest of the runner's
// crates: src/backends/systemd/deps-layer.ts) once per toolchain and crate set, at its first
// deploy, and keeps them in /var/cache/rustless/deps/<key> for every later build. Under
// emulation that one build takes most of an hour, and every VM test host starts from a new disk:
// so, once a VM's rust-less has published a layer, the test host copies it out, and the next
// VM's disk starts with it, as a Pi's disk does after its first deploy. Each app's own build
// still runs inside the VM. A layer whose key the guest no longer asks for (another toolchain,
// other crates) is just not used: rust-less builds the one it needs, and this cache then keeps
// that one too (a few, newest first).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { must, shellQuote as q } from '../host-command.mjs';
import { CACHE_DIR } from '../testhost.mjs';

/** rust-less's DEPS_ROOT (src/backends/systemd/deps-layer.ts), relative to the guest's root. */
const GUEST_DEPS = 'var/cache/rustless/deps';

const baseOf = (arch, cacheDir) => path.join(cacheDir, `vm-deps-${arch}`);

/**
 * The kept layers as a tree to lay over a new disk (scripts/lib/vm/vm.mjs `layers`), or
 * undefined before any VM of `arch` has published one.
 * @returns {string | undefined}
 */
export function keptDepsLayer(arch, cacheDir = CACHE_DIR) {
  const base = baseOf(arch, cacheDir);
  return fs.existsSync(path.join(base, 'ready')) ? path.join(base, 'tree') : undefined;
}

/** How many layers are kept: a checkout's and an installed package's (their runner/ paths differ), and one more. */
const KEEP = 3;

/**
 * Copies the layers rust-less published in `vm` (complete ones: their `ready` file) that are not
 * kept yet to this machine, beside the ones kept (newest first, at most KEEP). Returns the
 * guest's keys.
 * @param {import("./vm.mjs").Vm} vm
 * @param {string} arch
 * @param {{ cacheDir?: string, log?: (message: string) => unknown }} [options]
 * @returns {Promise<string[]>}
 */
export async function keepDepsLayers(vm, arch, { cacheDir = CACHE_DIR, log = () => {} } = {}) {
  const listed = await vm.run(`cd /${GUEST_DEPS} 2>/dev/null && for d in */ready; do [ -f "$d" ] && echo "\${d%/ready}"; done`);
  const keys = listed.stdout.split('\n').filter((key) => /^[0-9a-f]{24}$/.test(key)).sort();
  const base = baseOf(arch, cacheDir);
  const keptKeys = fs.existsSync(path.join(base, 'ready')) ? fs.readFileSync(path.join(base, 'ready'), 'utf8').trim().split('\n') : [];
  const added = keys.filter((key) => !keptKeys.includes(key));
  if (!added.length) return keys;
  const t0 = Date.now();
  const tmp = `${base}.copying-${process.pid}`;
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(path.join(tmp, 'tree', GUEST_DEPS), { recursive: true });
  // Owners and modes as published (root's, no one else may write): the disk is made with mkfs -d.
  const remote = vm.remote(`tar -C / -cf - ${added.map((key) => q(`${GUEST_DEPS}/${key}`)).join(' ')}`);
  await must(['sh', '-c', `${vm.sshArgv(remote).map(q).join(' ')} | tar -C ${q(path.join(tmp, 'tree'))} --same-owner --same-permissions -xf -`]);
  const keep = [...added, ...keptKeys].slice(0, KEEP);
  for (const key of keptKeys.filter((key) => keep.includes(key))) {
    await fsp.rename(path.join(base, 'tree', GUEST_DEPS, key), path.join(tmp, 'tree', GUEST_DEPS, key));
  }
  await fsp.writeFile(path.join(tmp, 'ready'), `${keep.join('\n')}\n`);
  await fsp.rm(base, { recursive: true, force: true });
  await fsp.rename(tmp, base);
  log(`kept the guest's shared dependencies ${added.join(', ')} for the next VM, beside ${keep.filter((key) => !added.includes(key)).join(', ') || 'no other'} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return keys;
}
