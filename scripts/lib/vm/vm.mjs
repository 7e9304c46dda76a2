// The VM test host: a whole Debian trixie machine under qemu (software emulation: KVM hangs on
// these machines), with its own kernel, the unified cgroup v2 hierarchy and, for arm64, a Pi's
// CPU. Reached over ssh through a loopback port; host directories shown with 9p.
// See docs/testhost.md, "The VM test host".
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../free-port.mjs';
import { defaultLog, must, secs, sh, shellQuote as q, TesthostError } from '../host-command.mjs';
import { checkName, GUEST_PATH, runDirOf } from '../testhost.mjs';
import { checkFlavour } from './kernel.mjs';
import { guestNodeModules } from './node-modules.mjs';
import { checkArch, createVmRoot, sshKey } from './root.mjs';


const QEMU = {
  // A Pi 4's cores; a Pi 5's (Cortex-A76) can run the 16K-page kernel, which the A72 cannot.
  // Raspberry Pi OS's kernels are built without transparent huge pages (bcm2711_defconfig and
  // bcm2712_defconfig leave CONFIG_TRANSPARENT_HUGEPAGE unset); Debian's arm64 kernel, which
  // stands in for them, has them always on (12 MiB of the TUI's RSS sat in them, though it read
  // the same without). Off, the VM is a Pi in this too.
  arm64: { binary: 'qemu-system-aarch64', machine: ['-M', 'virt'], cpu: (flavour) => (flavour === 'arm64-16k' ? 'cortex-a76' : 'cortex-a72'), console: 'ttyAMA0', kernelArgs: 'transparent_hugepage=never' },
  amd64: { binary: 'qemu-system-x86_64', machine: ['-M', 'q35'], cpu: () => 'max', console: 'ttyS0', kernelArgs: '' },
};

const stateFileOf = (name) => path.join(runDirOf(name), 'state.json');
export const diskOf = (name) => path.join(runDirOf(name), 'disk.raw');

export function readVmState(name) {
  try {
    const state = JSON.parse(fs.readFileSync(stateFileOf(name), 'utf8'));
    return state.kind === 'vm' ? state : null;
  } catch {
    return null;
  }
}

/** Whether the VM of that name runs (its qemu, by pid and run dir). */
export function vmRunning(name) {
  return qemuAlive(readVmState(name));
}

function qemuAlive(state) {
  try {
    return !!state?.qemuPid && fs.readFileSync(`/proc/${state.qemuPid}/cmdline`, 'utf8').includes(state.runDir);
  } catch {
    return false;
  }
}

/**
 * Makes the VM's disk from the cached root and any layers over it (a read-only overlay in a
 * private mount namespace): an ext4 image of `size`, filled with mkfs.ext4 -d (no loop device).
 * Sparse, so an 8 GiB disk costs what is written to it.
 */
async function makeDisk({ root, layers, disk, size }) {
  await must(['truncate', '-s', size, disk]);
  const mkfs = `mkfs.ext4 -q -F -L rustless-root -d "$1" ${q(disk)}`;
  if (!layers.length) return must(['sh', '-c', mkfs, 'mkfs', root]);
  const merged = `${disk}.merged`;
  await fsp.mkdir(merged, { recursive: true });
  const lower = [...layers, root].join(':');
  await must(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `set -e; mount -t overlay overlay -o ro,lowerdir=${q(lower)} ${q(merged)}; ${mkfs}`, 'mkfs', merged]);
  await fsp.rmdir(merged);
}

/**
 * Boots a VM test host.
 * @param {object} opts
 * @param {string} [opts.name='vm']
 * @param {'arm64'|'amd64'} [opts.arch='arm64']
 * @param {number} [opts.memory=2048] MiB
 * @param {number} [opts.cpus=2]
 * @param {string} [opts.kernelFlavour] arm64, arm64-16k or amd64 (the arch's own by default)
 * @param {string} [opts.kernelArgs] appended to the kernel command line (e.g. cgroup_disable=memory)
 * @param {{host: string, guest: string, readOnly?: boolean}[]} [opts.binds] shown inside with 9p
 * @param {{guest: number, host?: number}[]} [opts.forwards] guest TCP ports on this machine's loopback
 * @param {string[]} [opts.layers] host trees laid over the root on a new disk (top first), e.g. guestNodeModules()
 * @param {string} [opts.nodeModulesFrom] a checkout: its dependencies, built for the guest, go to /opt/rustless/node_modules
 * @param {boolean} [opts.keepDisk] boot the disk a previous boot of this name left (after down --keep-disk or kill)
 * @param {string} [opts.diskSize='8G']
 * @param {number} [opts.timeoutMs=300000]
 * @param {(message: string) => unknown} [opts.log] where progress lines go
 * @param {string} [opts.mirror] the Debian mirror, when the root is built
 * @returns {Promise<Vm>}
 */
export async function bootVm({
  name = 'vm',
  arch = 'arm64',
  memory = 2048,
  cpus = 2,
  kernelFlavour,
  kernelArgs = '',
  binds = [],
  forwards = [],
  layers = [],
  nodeModulesFrom,
  keepDisk = false,
  diskSize = '8G',
  timeoutMs = 300_000,
  log = defaultLog,
  mirror,
} = {}) {
  checkName(name);
  checkArch(arch);
  kernelFlavour ??= arch;
  checkFlavour(kernelFlavour, arch);
  if (!Number.isInteger(memory) || memory < 256) throw new TesthostError('TESTHOST_BAD_MEMORY', `Expected --memory to be a whole number of MiB >= 256, got ${JSON.stringify(memory)}`);
  if (!Number.isInteger(cpus) || cpus < 1) throw new TesthostError('TESTHOST_BAD_CPUS', `Expected --cpus to be a whole number >= 1, got ${JSON.stringify(cpus)}`);
  for (const b of binds) {
    if (!path.isAbsolute(b?.host ?? '') || !path.isAbsolute(b?.guest ?? '') || !fs.existsSync(b.host)) {
      throw new TesthostError('TESTHOST_BAD_BIND', `Expected binds of {host, guest} absolute paths with an existing host path, got ${JSON.stringify(b)}`);
    }
  }
  const old = readVmState(name);
  if (qemuAlive(old)) throw new TesthostError('TESTHOST_ALREADY_RUNNING', `Test host "${name}" is already running (qemu pid ${old.qemuPid}); run down first`);
  const runDir = runDirOf(name);
  const disk = diskOf(name);
  if (keepDisk && !fs.existsSync(disk)) throw new TesthostError('TESTHOST_NO_DISK', `--keep-disk: test host "${name}" has no disk at ${disk} to boot again`);
  if (!keepDisk) await fsp.rm(runDir, { recursive: true, force: true });
  await fsp.mkdir(runDir, { recursive: true });

  const { root, kernels } = await createVmRoot({ arch, mirror, log });
  const kernel = kernels[kernelFlavour];
  const t0 = Date.now();
  if (!keepDisk) {
    if (nodeModulesFrom) layers = [await guestNodeModules({ root, arch, repo: nodeModulesFrom, log }), ...layers];
    await makeDisk({ root, layers, disk, size: diskSize });
    log(`disk ${disk} (${diskSize}) made in ${secs(t0)} s`);
  }
  const sshPort = await freePort();
  const ports = [{ guest: 22, host: sshPort }];
  for (const f of forwards) ports.push({ guest: f.guest, host: f.host ?? (await freePort()) });
  const { key } = await sshKey();
  const { binary, machine, cpu, console: tty, kernelArgs: archArgs } = QEMU[arch];
  // The caller's last: a kernel takes the last of a repeated argument.
  const append = [`root=/dev/vda`, 'rw', `console=${tty}`, 'net.ifnames=0', 'systemd.unified_cgroup_hierarchy=1', archArgs, kernelArgs].filter(Boolean).join(' ');
  const argv = [
    binary,
    ...machine,
    '-cpu', cpu(kernelFlavour),
    '-smp', String(cpus),
    '-m', String(memory),
    '-display', 'none',
    '-monitor', 'none',
    '-serial', `file:${path.join(runDir, 'console.log')}`,
    '-no-reboot',
    '-kernel', kernel.vmlinuz,
    '-initrd', kernel.initrd,
    '-append', append,
    // cache=writeback: what the guest has flushed is in this machine's page cache, which a
    // killed qemu does not lose; what the guest had not yet written out is lost, as on a Pi.
    '-drive', `file=${disk},format=raw,if=virtio,cache=writeback`,
    '-netdev', `user,id=net0,restrict=on,${ports.map((p) => `hostfwd=tcp:127.0.0.1:${p.host}-:${p.guest}`).join(',')}`,
    '-device', 'virtio-net-pci,netdev=net0',
    ...binds.flatMap((b, i) => ['-virtfs', `local,path=${b.host},mount_tag=bind${i},security_model=none${b.readOnly ? ',readonly=on' : ''}`]),
  ];
  await fsp.writeFile(path.join(runDir, 'qemu.argv'), JSON.stringify(argv, null, 2));
  const out = fs.openSync(path.join(runDir, 'qemu.log'), 'a');
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  // How qemu ended, should it end while booting: a qemu that dies before its first line says
  // nothing in its own log or on the console.
  const ended = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`)));
  child.unref();
  const state = { kind: 'vm', name, runDir, arch, memory, cpus, kernelFlavour, kernelArgs, qemuPid: child.pid, sshPort, ports, binds, bootedAt: new Date().toISOString() };
  await fsp.writeFile(stateFileOf(name), JSON.stringify(state, null, 2));
  const vm = new Vm(state, key);

  const deadline = Date.now() + timeoutMs;
  let status = '';
  for (;;) {
    if (!qemuAlive(state)) {
      // Gone from /proc, its exit may not be reaped yet. The timer goes with the answer: a
      // pending one would hold `testhost.mjs boot` for its full 5 s after the error.
      const waited = new AbortController();
      const how = await Promise.race([ended, sleep(5000, 'how, unknown', { signal: waited.signal })]);
      waited.abort();
      return failBoot(vm, `qemu exited while booting (${how})`, keepDisk);
    }
    const r = await vm.run(['systemctl', 'is-system-running'], { timeoutMs: 30_000 });
    status = r.stdout.trim();
    if (status === 'running' || status === 'degraded') break;
    if (Date.now() > deadline) return failBoot(vm, `the guest did not reach running/degraded within ${timeoutMs} ms (last: ${status || r.stderr.trim().split('\n').pop() || 'no answer'})`, keepDisk);
    await sleep(1000);
  }
  for (const [i, b] of binds.entries()) {
    await vm.check(`modprobe 9pnet_virtio && mkdir -p ${q(b.guest)} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144${b.readOnly ? ',ro' : ''} bind${i} ${q(b.guest)}`);
  }
  log(`VM test host "${name}" (${arch}, ${kernelFlavour} kernel, ${memory} MiB) up (${status}) in ${secs(t0)} s; ssh on 127.0.0.1:${sshPort}`);
  return vm;
}

/** A boot that failed: what the console, qemu and the guest said, and the VM down (a kept disk stays: the next boot may use it). */
async function failBoot(vm, message, keepDisk) {
  const tail = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').slice(-30).join('\n') : '');
  let diag = '';
  if (qemuAlive(vm.state)) diag = (await vm.run('systemctl --failed --no-pager; journalctl -b --no-pager -n 40', { timeoutMs: 30_000 })).stdout;
  // Read before down, which removes them.
  const said = `${message}\n--- console\n${tail(path.join(vm.runDir, 'console.log'))}\n--- qemu\n${tail(path.join(vm.runDir, 'qemu.log'))}\n--- guest\n${diag}`;
  await downVm({ name: vm.name, keepDisk, log: () => {} });
  throw new TesthostError('TESTHOST_BOOT_FAILED', said);
}

/** A handle on a running VM, from its state file. */
export async function attachVm(name) {
  checkName(name);
  const state = readVmState(name);
  if (!qemuAlive(state)) throw new TesthostError('TESTHOST_NOT_RUNNING', `VM test host "${name}" is not running`);
  return new Vm(state, (await sshKey()).key);
}

export class Vm {
  constructor(state, key) {
    this.kind = 'vm';
    this.name = state.name;
    this.runDir = state.runDir;
    this.state = state;
    this.key = key;
  }

  /** This machine's loopback port for a guest port given in `forwards`. */
  port(guestPort) {
    const p = this.state.ports.find((f) => f.guest === guestPort);
    if (!p) throw new TesthostError('TESTHOST_NO_FORWARD', `Guest port ${guestPort} is not forwarded; boot with --forward ${guestPort}`);
    return p.host;
  }

  sshArgv(remote, { tty = false } = {}) {
    return [
      'ssh',
      '-q',
      ...(tty ? ['-t'] : ['-T']),
      '-i', this.key,
      '-p', String(this.state.sshPort),
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=20',
      // One connection, shared by every command: a key exchange under emulation takes seconds.
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${path.join(this.runDir, 'ssh.sock')}`,
      '-o', 'ControlPersist=600',
      'root@127.0.0.1',
      remote,
    ];
  }

  /** The remote command line: a clean environment, then the command (a string goes to sh -c). */
  remote(cmd, env = {}) {
    const argv = typeof cmd === 'string' ? ['/bin/sh', '-c', cmd] : cmd;
    const vars = Object.entries({ PATH: GUEST_PATH, HOME: '/root', LANG: 'C.UTF-8', TERM: 'dumb', ...env }).map(([k, v]) => q(`${k}=${v}`));
    return `cd / && exec env -i ${vars.join(' ')} ${argv.map(q).join(' ')}`;
  }

  /**
   * Runs a command inside. Never rejects on a non-zero exit; 255 is ssh's own failure.
   * @returns {Promise<{stdout: string, stderr: string, exitCode: number}>}
   */
  run(cmd, { input, env, timeoutMs } = {}) {
    return sh(this.sshArgv(this.remote(cmd, env)), { input, timeoutMs });
  }

  async check(cmd, opts) {
    const r = await this.run(cmd, opts);
    if (r.exitCode !== 0) {
      throw new TesthostError('TESTHOST_GUEST_COMMAND_FAILED', `${typeof cmd === 'string' ? cmd : cmd.join(' ')} exited ${r.exitCode} in VM test host "${this.name}":\n${r.stdout}${r.stderr}`);
    }
    return r;
  }

  /** Runs a command inside with the caller's stdio (for the CLI); resolves its exit code. */
  async exec(argv, { env } = {}) {
    const r = await sh(this.sshArgv(this.remote(argv, { TERM: process.env.TERM ?? 'dumb', ...env }), { tty: process.stdin.isTTY }), { stdio: 'inherit' });
    return r.exitCode;
  }

  /** Copies a host file or directory to a guest path (parents created), as a tar stream over ssh. */
  async copyIn(hostPath, guestPath, { exclude = [] } = {}) {
    const dir = fs.statSync(hostPath).isDirectory();
    const excludes = exclude.map((e) => `--exclude=${q(e)}`).join(' ');
    const local = dir ? `tar -C ${q(hostPath)} ${excludes} -cf - .` : `tar -C ${q(path.dirname(hostPath))} -cf - ${q(path.basename(hostPath))}`;
    const into = dir ? guestPath : path.dirname(guestPath);
    const rename = dir || path.basename(hostPath) === path.basename(guestPath) ? '' : ` && mv ${q(path.join(into, path.basename(hostPath)))} ${q(guestPath)}`;
    const remote = this.remote(`mkdir -p ${q(into)} && tar -C ${q(into)} --no-same-owner -xf -${rename}`);
    await must(['sh', '-c', `${local} | ${this.sshArgv(remote).map(q).join(' ')}`]);
  }

  async writeFile(guestPath, content, { mode } = {}) {
    await this.check(`mkdir -p ${q(path.dirname(guestPath))} && cat > ${q(guestPath)}${mode ? ` && chmod ${mode.toString(8)} ${q(guestPath)}` : ''}`, { input: content });
  }

  async readFile(guestPath) {
    return (await this.check(['cat', guestPath])).stdout;
  }

  down(opts) {
    return downVm({ name: this.name, ...opts });
  }

  /** Pulls the plug: SIGKILL to qemu, no shutdown. The disk keeps what the guest had written out. */
  kill() {
    return killVm(this.name);
  }
}

async function waitQemuGone(state, ms) {
  const deadline = Date.now() + ms;
  while (qemuAlive(state)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** SIGKILL to the VM's qemu: a power cut. Its run dir and disk stay for `boot --keep-disk`. */
export async function killVm(name) {
  checkName(name);
  const state = readVmState(name);
  if (!qemuAlive(state)) return { killed: false };
  process.kill(state.qemuPid, 'SIGKILL');
  await waitQemuGone(state, 10_000);
  await sh(['ssh', '-O', 'exit', '-o', `ControlPath=${path.join(state.runDir, 'ssh.sock')}`, 'x']);
  return { killed: true };
}

/**
 * Powers a VM off (systemctl poweroff, SIGKILL if it lingers) and removes its run dir, or with
 * keepDisk keeps the disk for the next boot of the same name. Idempotent.
 * @param {{ name?: string, keepDisk?: boolean, timeoutMs?: number, log?: (message: string) => unknown }} [opts]
 */
export async function downVm({ name = 'vm', keepDisk = false, timeoutMs = 120_000, log = defaultLog } = {}) {
  checkName(name);
  const t0 = Date.now();
  const state = readVmState(name);
  let stopped = false;
  let killed = false;
  if (qemuAlive(state)) {
    stopped = true;
    const vm = new Vm(state, (await sshKey()).key);
    await vm.run(['systemctl', 'poweroff', '--no-block'], { timeoutMs: 30_000 });
    if (!(await waitQemuGone(state, timeoutMs))) {
      log(`qemu pid ${state.qemuPid} still running after ${timeoutMs} ms: killing it`);
      killed = true;
      await killVm(name);
    }
    await sh(['ssh', '-O', 'exit', '-o', `ControlPath=${path.join(state.runDir, 'ssh.sock')}`, 'x']);
  }
  const runDir = runDirOf(name);
  if (keepDisk) {
    for (const f of fs.existsSync(runDir) ? fs.readdirSync(runDir) : []) if (f !== 'disk.raw' && f !== 'state.json' && f !== 'console.log') await fsp.rm(path.join(runDir, f), { recursive: true, force: true });
  } else {
    await fsp.rm(runDir, { recursive: true, force: true });
  }
  const seconds = Number(secs(t0));
  if (stopped) log(`VM test host "${name}" down in ${seconds} s${killed ? ' (killed)' : ''}${keepDisk ? ', disk kept' : ''}`);
  return { stopped, killed, seconds };
}
