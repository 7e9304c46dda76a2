// Debian's own kernels for the VM test host, and the small initramfs that mounts the root disk.
//
// The kernel comes out of its .deb (dpkg-deb -x), never through its postinst: initramfs-tools
// under qemu-user took four of the eleven minutes of an arm64 root. Debian builds virtio_blk and
// ext4 as modules, so an initramfs is still needed; this one is a static busybox, those modules
// (uncompressed, in dependency order) and a ten-line /init, made in well under a second.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { must, sh, TesthostError } from '../host-command.mjs';

/** Kernel flavours by architecture: the Debian metapackage, and what each stands for. */
export const FLAVOURS = Object.freeze({
  arm64: { arch: 'arm64', metapackage: 'linux-image-arm64', about: 'a Pi 4 (4K pages)' },
  'arm64-16k': { arch: 'arm64', metapackage: 'linux-image-arm64-16k', about: 'a Pi 5 kernel_2712.img (16K pages)' },
  amd64: { arch: 'amd64', metapackage: 'linux-image-amd64', about: 'x86-64' },
});

/**
 * The modules the initramfs loads, with their dependencies; a built-in one is simply absent.
 * crc32c_generic is ext4's and jbd2's soft dependency (modules.softdep: crypto-crc32c).
 */
const BOOT_MODULES = ['virtio_pci', 'virtio_mmio', 'virtio_blk', 'crc32c_generic', 'ext4'];

export function flavoursOf(arch) {
  return Object.entries(FLAVOURS)
    .filter(([, f]) => f.arch === arch)
    .map(([name]) => name);
}

export function checkFlavour(flavour, arch) {
  const f = FLAVOURS[flavour];
  if (!f || f.arch !== arch) {
    throw new TesthostError('TESTHOST_BAD_KERNEL', `Expected --kernel-flavour to be one of ${flavoursOf(arch).join(', ')} for --arch ${arch}, got ${JSON.stringify(flavour)}`);
  }
}

/** The Packages index of one architecture, as { name: { Version, Filename, Depends } }. */
async function packagesIndex({ mirror, suite, arch, cacheDir }) {
  const file = path.join(cacheDir, `Packages-${suite}-${arch}`);
  if (!fs.existsSync(file)) {
    const url = `${mirror}/dists/${suite}/main/binary-${arch}/Packages.xz`;
    const r = await sh(['sh', '-c', `curl -fsS "$0" | xz -dc > "$1.tmp" && mv "$1.tmp" "$1"`, url, file]);
    if (r.exitCode !== 0) throw new TesthostError('TESTHOST_KERNEL_FETCH_FAILED', `Could not fetch ${url}: ${r.stderr.trim()}`);
  }
  const index = {};
  for (const stanza of fs.readFileSync(file, 'utf8').split('\n\n')) {
    const field = (k) => stanza.match(new RegExp(`^${k}: (.+)$`, 'm'))?.[1];
    const name = field('Package');
    if (name?.startsWith('linux-image-')) index[name] = { version: field('Version'), filename: field('Filename'), depends: field('Depends') ?? '' };
  }
  return index;
}

/**
 * Fetches a flavour's kernel and builds its initramfs, once per kernel version (cached).
 * @param {{ flavour: string, mirror: string, suite: string, cacheDir: string, busybox: string, log: Function }} opts
 *   busybox: a static busybox of the same architecture (the root's, from busybox-static)
 * @returns {Promise<{ release: string, vmlinuz: string, initrd: string, modules: string }>}
 *   modules: the /usr/lib/modules/RELEASE tree to give the guest (depmod already run)
 */
export async function fetchKernel({ flavour, mirror, suite, cacheDir, busybox, log }) {
  const { arch, metapackage } = FLAVOURS[flavour];
  const index = await packagesIndex({ mirror, suite, arch, cacheDir });
  const image = index[metapackage]?.depends.match(/linux-image-[^\s,(]+/)?.[0];
  const pkg = image && index[image];
  if (!pkg) throw new TesthostError('TESTHOST_KERNEL_FETCH_FAILED', `No ${metapackage} for ${arch} in ${suite} at ${mirror}`);
  const release = image.replace(/^linux-image-/, '');
  const dir = path.join(cacheDir, 'kernels', release);
  const done = path.join(dir, 'ready');
  if (!fs.existsSync(done)) {
    log(`kernel ${release}: fetching ${pkg.filename}`);
    const tmp = `${dir}.building-${process.pid}`;
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.mkdir(tmp, { recursive: true });
    const deb = path.join(tmp, 'kernel.deb');
    await must(['curl', '-fsS', '-o', deb, `${mirror}/${pkg.filename}`]);
    await must(['dpkg-deb', '-x', deb, path.join(tmp, 'tree')]);
    await fsp.rm(deb);
    // The .deb leaves modules.dep to its postinst; depmod reads the tree of any architecture.
    await must(['depmod', '-b', path.join(tmp, 'tree', 'usr'), release]);
    await buildInitramfs({ tree: path.join(tmp, 'tree'), release, busybox, out: path.join(tmp, 'initrd.img') });
    await fsp.writeFile(path.join(tmp, 'ready'), `${pkg.version}\n`);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(tmp, dir);
  }
  const vmlinuz = path.join(dir, 'tree', 'boot', `vmlinuz-${release}`);
  return { release, vmlinuz, initrd: path.join(dir, 'initrd.img'), modules: path.join(dir, 'tree', 'usr', 'lib', 'modules', release) };
}

/** BOOT_MODULES and what they need, dependencies first, as paths relative to the modules dir. */
function bootModuleOrder(modulesDir) {
  const deps = new Map();
  for (const line of fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod) deps.set(mod, (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((m) => [path.basename(m).replace(/\.ko(\.\w+)?$/, '').replaceAll('-', '_'), m]));
  const order = [];
  const visit = (mod) => {
    if (order.includes(mod)) return;
    // modules.dep lists every (transitive) dependency; the last ones are the deepest.
    for (const dep of [...(deps.get(mod) ?? [])].reverse()) visit(dep);
    order.push(mod);
  };
  for (const name of BOOT_MODULES) if (byName.has(name)) visit(byName.get(name));
  return order;
}

const INIT = `#!/bin/busybox sh
# rust-less VM test host: load the disk's modules, mount /dev/vda, hand over to systemd.
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /modules.order); do insmod "/modules/$m" || echo "initramfs: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 -o rw /dev/vda /newroot; then echo "initramfs: cannot mount /dev/vda"; poweroff -f; fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`;

async function buildInitramfs({ tree, release, busybox, out }) {
  const modulesDir = path.join(tree, 'usr', 'lib', 'modules', release);
  const stage = `${out}.d`;
  await fsp.mkdir(path.join(stage, 'bin'), { recursive: true });
  await fsp.mkdir(path.join(stage, 'modules'), { recursive: true });
  for (const d of ['dev', 'proc', 'sys']) await fsp.mkdir(path.join(stage, d));
  await fsp.copyFile(busybox, path.join(stage, 'bin', 'busybox'));
  await fsp.chmod(path.join(stage, 'bin', 'busybox'), 0o755);
  const names = [];
  for (const rel of bootModuleOrder(modulesDir)) {
    const name = path.basename(rel).replace(/\.(xz|zst|gz)$/, '');
    const target = path.join(stage, 'modules', name);
    // busybox's insmod takes plain .ko files; Debian ships them xz-compressed.
    if (rel.endsWith('.xz')) await must(['sh', '-c', 'xz -dc "$0" > "$1"', path.join(modulesDir, rel), target]);
    else if (rel.endsWith('.zst')) await must(['zstd', '-qdf', path.join(modulesDir, rel), '-o', target]);
    else await fsp.copyFile(path.join(modulesDir, rel), target);
    names.push(name);
  }
  await fsp.writeFile(path.join(stage, 'modules.order'), names.join('\n') + '\n');
  await fsp.writeFile(path.join(stage, 'init'), INIT, { mode: 0o755 });
  await must(['sh', '-c', 'cd "$0" && find . | cpio --quiet -o -H newc -R 0:0 > "$1"', stage, out]);
  await fsp.rm(stage, { recursive: true, force: true });
}
