// The VM test host's root filesystem: Debian trixie for the guest's architecture, with systemd,
// Podman, Rust, Node and Debian's own kernels, built once with debootstrap and cached by its
// package list, as the namespace test host's root is. See docs/testhost.md, "The VM test host".
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { must, secs, sh, TesthostError } from '../host-command.mjs';
import { aptInstall, CACHE_DIR, cratePackages, detectMirror, inChroot, SUITE } from '../testhost.mjs';
import { fetchKernel, flavoursOf } from './kernel.mjs';

/** Bump when anything that shapes the cached VM root changes (debootstrap flags, setup). */
export const VM_SCRIPT_VERSION = 1;
export const ARCHES = Object.freeze(['arm64', 'amd64']);

/** What debootstrap installs: a Pi's trixie, as far as rust-less cares. */
const BASE_PACKAGES = Object.freeze([
  'systemd',
  'systemd-sysv',
  'dbus',
  'udev',
  'kmod',
  'podman',
  'crun',
  'conmon',
  'netavark',
  'catatonit',
  // netavark needs it for Podman's default network; minbase leaves it out.
  'nftables',
  'iproute2',
  'procps',
  'curl',
  'ca-certificates',
  'openssh-server',
  'sudo',
  // The initramfs's /init (kernel.mjs): a static busybox of the guest's architecture.
  'busybox-static',
  'rustc',
  'cargo',
  'libc6-dev',
  'nodejs',
  // Building the native modules (better-sqlite3, sd-notify) on arm64, as a Pi owner does.
  'python3',
  'make',
  'g++',
  'libsystemd-dev',
]);

/**
 * Installed with apt in the new root: debootstrap's resolver ignores Provides. Not Debian's npm:
 * its ~450 packages took over 20 minutes to unpack under qemu-user; the guest gets this
 * machine's npm instead, which is JavaScript (node-modules.mjs).
 */
function aptPackages() {
  return cratePackages();
}

export function checkArch(arch) {
  if (!ARCHES.includes(arch)) throw new TesthostError('TESTHOST_BAD_ARCH', `Expected --arch to be one of ${ARCHES.join(', ')}, got ${JSON.stringify(arch)}`);
}

export function vmCacheKey({ arch }) {
  const text = JSON.stringify({ v: VM_SCRIPT_VERSION, suite: SUITE, arch, base: [...BASE_PACKAGES].sort(), apt: aptPackages().sort() });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Where the cached VM root of an architecture lives (it may not exist yet). */
export function vmRootPath({ arch, cacheDir = CACHE_DIR }) {
  return path.join(cacheDir, `vm-${arch}-${vmCacheKey({ arch })}`, 'root');
}

const MARKER = 'etc/rustless-testhost.json';

/** The machine's own architecture in Debian's words. */
export function hostArch() {
  return { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;
}

/**
 * Lets this machine run the guest architecture's programs (debootstrap's second stage and the
 * chroot steps) through qemu-user-static: registers it with binfmt_misc when it is missing.
 */
export async function ensureBinfmt(arch, { log }) {
  if (arch === hostArch()) return;
  const qemu = { arm64: 'aarch64', amd64: 'x86_64' }[arch];
  const misc = '/proc/sys/fs/binfmt_misc';
  if (!fs.existsSync(path.join(misc, 'register'))) await must(['mount', '-t', 'binfmt_misc', 'binfmt_misc', misc]);
  if (fs.existsSync(path.join(misc, `qemu-${qemu}`))) return;
  const conf = `/usr/lib/binfmt.d/qemu-${qemu}.conf`;
  if (!fs.existsSync(conf)) throw new TesthostError('TESTHOST_NO_QEMU_USER', `${conf} is missing: apt-get install qemu-user-static`);
  const line = fs.readFileSync(conf, 'utf8').split('\n').find((l) => l.startsWith(':'));
  await fsp.writeFile(path.join(misc, 'register'), line);
  log(`registered qemu-${qemu} with binfmt_misc`);
}

/**
 * Builds (or reuses) the cached VM root of an architecture, with every kernel flavour of it.
 * Built in a temporary directory and renamed into place, so a half-built root is never used.
 * @returns {Promise<{ root: string, kernels: Record<string, { release: string, vmlinuz: string, initrd: string }>, cached: boolean }>}
 */
export async function createVmRoot({ arch = 'arm64', mirror, cacheDir = CACHE_DIR, force = false, log }) {
  checkArch(arch);
  const t0 = Date.now();
  const root = vmRootPath({ arch, cacheDir });
  const keyDir = path.dirname(root);
  const marker = path.join(root, MARKER);
  if (!force && fs.existsSync(marker)) {
    log(`cached VM root ${root}`);
    return { root, kernels: JSON.parse(fs.readFileSync(marker, 'utf8')).kernels, cached: true };
  }
  mirror ??= detectMirror();
  await ensureBinfmt(arch, { log });
  const debs = path.join(cacheDir, `debs-${arch}`);
  await fsp.mkdir(debs, { recursive: true });
  await fsp.mkdir(keyDir, { recursive: true });
  const tmp = await fsp.mkdtemp(path.join(keyDir, `building-${process.pid}-`));
  try {
    log(`debootstrap --arch ${arch} ${SUITE} into ${tmp} (under qemu-user when foreign: about 10 min)`);
    const r = await sh(['debootstrap', `--arch=${arch}`, '--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, `--cache-dir=${debs}`, SUITE, tmp, mirror]);
    if (r.exitCode !== 0) {
      const logFile = path.join(tmp, 'debootstrap/debootstrap.log');
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
      throw new TesthostError('TESTHOST_DEBOOTSTRAP_FAILED', `debootstrap exited ${r.exitCode}:\n${(r.stderr + r.stdout).trim().split('\n').slice(-20).join('\n')}\n${tail}`);
    }
    log(`debootstrap done in ${secs(t0)} s`);
    const kernels = await finishVmRoot(tmp, { arch, mirror, cacheDir, debs, log });
    await fsp.rm(root, { recursive: true, force: true });
    await fsp.rename(tmp, root);
    log(`VM root ready at ${root} in ${secs(t0)} s`);
    return { root, kernels, cached: false };
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Everything after debootstrap: the packages that go through apt, every kernel flavour of the
 * architecture (its modules on the guest's disk), and the one-time settings.
 * @returns {Promise<Record<string, { release: string, vmlinuz: string, initrd: string }>>}
 */
export async function finishVmRoot(tmp, { arch, mirror, cacheDir, debs, log }) {
  log(`apt-get install ${aptPackages().length} more packages in the new root`);
  await aptInstall(tmp, { mirror, suite: SUITE, packages: aptPackages(), debs });
  const kernels = {};
  for (const flavour of flavoursOf(arch)) {
    const k = await fetchKernel({ flavour, mirror, suite: SUITE, cacheDir, busybox: path.join(tmp, 'usr/bin/busybox'), log });
    // The guest loads the rest of its modules (overlay, nf_tables, virtio_net, 9p) from its own disk.
    await fsp.mkdir(path.join(tmp, 'usr/lib/modules'), { recursive: true });
    await must(['cp', '-a', '--no-target-directory', k.modules, path.join(tmp, 'usr/lib/modules', k.release)]);
    kernels[flavour] = { release: k.release, vmlinuz: k.vmlinuz, initrd: k.initrd };
  }
  await setupVmRoot(tmp, { arch, mirror, cacheDir, kernels });
  return kernels;
}

/** The key every VM of this cache is reached with over ssh (made once, kept beside the roots). */
export async function sshKey(cacheDir = CACHE_DIR) {
  const key = path.join(cacheDir, 'vm-ssh', 'id_ed25519');
  if (!fs.existsSync(key)) {
    await fsp.mkdir(path.dirname(key), { recursive: true, mode: 0o700 });
    await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'rustless-testhost', '-f', key]);
  }
  return { key, publicKey: fs.readFileSync(`${key}.pub`, 'utf8') };
}

// One-time settings baked into the cached root: a machine on its own, reached over ssh.
async function setupVmRoot(root, { arch, mirror, cacheDir, kernels }) {
  const w = async (p, text, mode) => {
    await fsp.mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await fsp.writeFile(path.join(root, p), text, mode ? { mode } : undefined);
  };
  const mask = async (unit) => {
    await fsp.rm(path.join(root, 'etc/systemd/system', unit), { force: true });
    await fsp.symlink('/dev/null', path.join(root, 'etc/systemd/system', unit));
  };
  await w('etc/apt/sources.list', `deb ${mirror} ${SUITE} main\n`);
  await w('etc/hostname', 'rustless-pi\n');
  await w('etc/hosts', '127.0.0.1 localhost\n127.0.1.1 rustless-pi\n');
  await w('etc/fstab', '/dev/vda / ext4 rw,errors=remount-ro 0 1\n');
  // Empty: systemd makes one on the first boot and commits it to the disk, which is kept.
  await w('etc/machine-id', '');
  // The guest's only network: user-mode qemu, restricted to the ports forwarded from this
  // machine, at its fixed address (systemd-networkd, which waits for the device by itself).
  await w('etc/systemd/network/10-rustless-vm.network', '[Match]\nName=eth0\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n');
  // Once booted, what a failed boot's diagnosis needs, on the serial console (console.log).
  await w(
    'etc/systemd/system/rustless-vm-report.service',
    `[Unit]
Description=rust-less VM test host: addresses and failed units, on the console
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/bin/sh -c 'echo "rustless-vm: $(ip -brief addr | tr "\\\\n" ";") failed: $(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\\\n" " ")"'
[Install]
WantedBy=multi-user.target
`,
  );
  await inChroot(root, ['systemctl enable systemd-networkd.service rustless-vm-report.service']);
  // A getty on the serial console would hang up and throw the boot log away.
  for (const unit of ['serial-getty@ttyAMA0.service', 'serial-getty@ttyS0.service', 'getty@tty1.service', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'systemd-networkd-wait-online.service']) await mask(unit);
  const { publicKey } = await sshKey(cacheDir);
  await w('root/.ssh/authorized_keys', publicKey, 0o600);
  await fsp.chmod(path.join(root, 'root/.ssh'), 0o700);
  await w('etc/ssh/sshd_config.d/50-rustless-testhost.conf', 'PermitRootLogin prohibit-password\nUseDNS no\nMaxSessions 64\nMaxStartups 64\n');
  await fsp.mkdir(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  await inChroot(root, ['apt-get clean']);
  await w(MARKER, JSON.stringify({ kind: 'vm', arch, suite: SUITE, mirror, version: VM_SCRIPT_VERSION, kernels, builtAt: new Date().toISOString() }, null, 2) + '\n');
}
