#!/usr/bin/env zx
// The rustless test hosts, for testing the systemd backend with real Podman and Quadlet: a
// Debian trixie root booted with systemd as PID 1 in its own namespaces (fast, this machine's
// kernel), or with --vm a whole trixie machine under qemu: arm64 as a Pi, its own kernel, the
// unified cgroup v2 hierarchy, and a disk that a killed VM loses unwritten data from.
// See docs/testhost.md.
//
//   testhost.mjs create [--force] [--mirror URL] [--vm --arch arm64|amd64 [--node-modules-from DIR]]
//   testhost.mjs boot [--name default] [--mode overlay|copy] [--bind HOST:GUEST[:ro]]... [--timeout 60] [--foreground]
//   testhost.mjs boot --name N --vm --arch arm64|amd64 [--memory MIB] [--cpus N] [--kernel-flavour arm64|arm64-16k|amd64]
//                     [--kernel-args "..."] [--bind HOST:GUEST[:ro]]... [--forward GUEST[:HOST]]... [--keep-disk] [--disk-size 8G]
//   testhost.mjs kill --name N                 (a VM only: SIGKILL to qemu, a power cut; the disk stays)
//   testhost.mjs exec [--name default] -- CMD...
//   testhost.mjs bind [--name default] HOST[:GUEST[:ro]]
//   testhost.mjs shell [--name default]
//   testhost.mjs down [--name default]
//   testhost.mjs status
import { fs, minimist } from 'zx';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as th from './lib/testhost.mjs';
import { guestNodeModules } from './lib/vm/node-modules.mjs';
import { createVmRoot } from './lib/vm/root.mjs';
import { attachVm, bootVm, downVm, killVm, readVmState, vmRunning } from './lib/vm/vm.mjs';

// Our own flags start after this script's path, whether run as `zx testhost.mjs` or `./testhost.mjs`.
const self = fileURLToPath(import.meta.url);
const at = process.argv.findIndex((a) => a === self || a.endsWith('/testhost.mjs') || a === 'testhost.mjs');
const args = minimist(process.argv.slice(at + 1), {
  string: ['name', 'mode', 'mirror', 'bind', 'timeout', 'node-modules-from', 'arch', 'memory', 'cpus', 'kernel-flavour', 'kernel-args', 'forward', 'disk-size'],
  boolean: ['force', 'foreground', 'help', 'json', 'vm', 'keep-disk'],
  default: { name: 'default', mode: 'overlay', force: false, foreground: false, arch: 'arm64', memory: '2048', cpus: '2', 'disk-size': '8G' },
  '--': true,
});
const [command] = args._;
const log = (msg) => process.stderr.write(`[testhost] ${msg}\n`);

const usage = `usage: testhost.mjs <command> [flags]
  create  [--force] [--mirror URL]          build (or reuse) the cached trixie root
          --vm [--arch arm64|amd64] [--node-modules-from DIR]
                                            the same for the VM kind (about 15 min for arm64), and
                                            DIR's node_modules built for the guest
  boot    [--name N] [--mode overlay|copy] [--bind HOST:GUEST[:ro]]... [--timeout SECS] [--foreground]
  boot    --vm --name N [--arch arm64|amd64] [--memory MIB] [--cpus N] [--kernel-flavour F]
          [--kernel-args "..."] [--bind HOST:GUEST[:ro]]... [--forward GUEST[:HOST]]...
          [--keep-disk] [--disk-size 8G] [--timeout SECS]
                                            a whole trixie machine under qemu; prints its ssh port
  exec    [--name N] -- CMD...              run CMD inside; its exit code passes through
  bind    [--name N] HOST[:GUEST[:ro]]      bind-mount a host dir into the running guest (namespace kind)
  shell   [--name N]                        an interactive shell inside
  kill    --name N                          VM only: pull the plug (SIGKILL qemu); the disk stays
  down    [--name N] [--keep-disk]          power off, kill stragglers, remove mounts and run dir
  status  [--json]                          instances and the cached root`;

function fail(err) {
  log(err?.code ? `${err.code}: ${err.message}` : String(err?.stack ?? err));
  process.exit(1);
}

const timeoutMs = Number(args.timeout ?? (args.vm ? 300 : 60)) * 1000;
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail(`Expected --timeout to be a positive number of seconds, got ${JSON.stringify(args.timeout)}`);

// On SIGINT/SIGTERM while booting (or in --foreground), take the instance down before exiting.
let teardownName = null;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    // exec/shell: the command inside gets the terminal's signals itself; wait for its exit code.
    if (command === 'exec' || command === 'shell') return;
    if (!teardownName) process.exit(sig === 'SIGINT' ? 130 : 143);
    const name = teardownName;
    teardownName = null;
    log(`${sig}: taking "${name}" down`);
    try {
      await (readVmState(name) ? downVm : th.down)({ name, log });
    } catch (err) {
      log(String(err));
    }
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

try {
  switch (command) {
    case 'create': {
      const t0 = Date.now();
      if (args.vm) {
        const r = await createVmRoot({ arch: args.arch, mirror: args.mirror, force: args.force, log });
        // --node-modules-from DIR: that checkout's dependencies built for the guest too (cached).
        if (args['node-modules-from']) await guestNodeModules({ root: r.root, arch: args.arch, repo: path.resolve(args['node-modules-from']), log });
        log(`create: ${r.cached ? 'cached' : 'built'} ${r.root} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        console.log(r.root);
        break;
      }
      const r = await th.create({ force: args.force, mirror: args.mirror, log });
      log(`create: ${r.cached ? 'cached' : 'built'} ${r.root} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      console.log(r.root);
      break;
    }
    case 'boot': {
      const binds = [].concat(args.bind ?? []).map((spec) => {
        const [host, guest, ro] = spec.split(':');
        return { host, guest: guest ?? host, readOnly: ro === 'ro' };
      });
      teardownName = args.name;
      if (args.vm) {
        const forwards = [].concat(args.forward ?? []).map((spec) => {
          const [guest, host] = spec.split(':').map(Number);
          if (!Number.isInteger(guest) || (host !== undefined && !Number.isInteger(host))) fail(`Expected --forward GUEST[:HOST] ports, got ${JSON.stringify(spec)}`);
          return { guest, host };
        });
        const vm = await bootVm({
          name: args.name,
          arch: args.arch,
          memory: Number(args.memory),
          cpus: Number(args.cpus),
          kernelFlavour: args['kernel-flavour'],
          kernelArgs: args['kernel-args'],
          binds,
          forwards,
          keepDisk: args['keep-disk'],
          diskSize: args['disk-size'],
          timeoutMs,
          log,
        });
        for (const p of vm.state.ports) log(`guest port ${p.guest} -> 127.0.0.1:${p.host}`);
        console.log(vm.state.sshPort);
        teardownName = null;
        break;
      }
      const host = await th.boot({ name: args.name, mode: args.mode, binds, timeoutMs, log, createOpts: { mirror: args.mirror } });
      console.log(host.pid);
      if (args.foreground) {
        log('running in the foreground; Ctrl-C takes it down');
        while (th.list().find((i) => i.name === args.name)?.running) await new Promise((resolve) => setTimeout(resolve, 500));
        await th.down({ name: args.name, log });
      }
      teardownName = null;
      break;
    }
    case 'exec': {
      const cmd = args['--'] ?? [];
      if (!cmd.length) fail('exec needs a command after --');
      process.exitCode = await (await attachAny(args.name)).exec(cmd);
      break;
    }
    case 'bind': {
      const [spec] = args._.slice(1);
      const [hostPath, guestPath, ro] = (spec ?? '').split(':');
      if (!hostPath) fail('bind needs HOST[:GUEST[:ro]]');
      await th.attach(args.name).bindIn(hostPath, guestPath || hostPath, { readOnly: ro === 'ro' });
      break;
    }
    case 'shell':
      process.exitCode = await (await attachAny(args.name)).exec(['/bin/bash', '-l']);
      break;
    case 'kill': {
      if (!readVmState(args.name)) fail(`kill: "${args.name}" is not a VM test host (only a VM has a plug to pull)`);
      const r = await killVm(args.name);
      log(r.killed ? `VM test host "${args.name}" killed; boot --keep-disk boots its disk again` : `VM test host "${args.name}" was not running`);
      break;
    }
    case 'down':
      if (readVmState(args.name)) await downVm({ name: args.name, keepDisk: args['keep-disk'], log });
      else await th.down({ name: args.name, log });
      break;
    case 'status': {
      const root = th.cachedRootPath();
      // A VM's state has no systemd pid: whether its qemu runs says whether it is up.
      const instances = th.list().map((i) => (readVmState(i.name) ? { ...i, kind: 'vm', running: vmRunning(i.name) } : i));
      const info = { cachedRoot: (await fs.pathExists(root)) ? root : null, instances };
      if (args.json) console.log(JSON.stringify(info, null, 2));
      else {
        console.log(`cached root: ${info.cachedRoot ?? '(none; run create)'}`);
        for (const i of info.instances) console.log(`${i.name}\t${i.running ? (i.kind === 'vm' ? 'running (VM)' : `running, pid ${i.pid}`) : `stopped (leftovers${i.kind === 'vm' ? ', a disk for boot --keep-disk' : ''}; run down)`}\t${i.runDir}`);
      }
      break;
    }
    default:
      console.log(usage);
      if (!args.help && command !== 'help') process.exitCode = 2;
  }
} catch (err) {
  fail(err);
}

/** The running test host of that name, of either kind. */
function attachAny(name) {
  return readVmState(name) ? attachVm(name) : th.attach(name);
}
