// rust-less on a Raspberry Pi's terms, in a whole arm64 Debian trixie machine under qemu
// (scripts/lib/vm/vm.mjs): a Pi 4's Cortex-A72, Debian's arm64 kernel, the unified cgroup v2
// hierarchy and systemd as PID 1. One disk, booted four times, as a Pi's owner meets it:
//   1. as installed: the guest is what a Pi is, its own arm64 native modules load, install.mjs
//      sets rust-less up and the doctor passes; the gateway starts and answers;
//   2. with Raspberry Pi OS's default `cgroup_disable=memory`: the doctor fails its memory check
//      naming the fix, and `install.mjs --enable-memory-cgroup` makes it in cmdline.txt;
//   3. with the arm64-16k kernel on a Cortex-A76 (a Pi 5's 16K pages): the gateway starts and answers;
//   4. a boot qemu refuses: the test host says why and keeps the disk, and the next boot uses it;
//      then a function's own build inside the VM, as on a Pi: hello deployed, compiled there
//      (the machine's first deploy: the shared dependencies too, unless an earlier VM on this
//      machine kept them, which CI's fresh machine never has), its answer, and the warm tier's
//      freeze (cgroup2's cgroup.freeze) and thaw of it.
// `npm test` runs this file beside the other suites. The backend's checks on top of deploys
// (cold starts, systemd's view of a frozen app, OOM kills, restarts under load, ...) are
// pi-deploys.test.ts and pi-backend.test.ts (`npm run test:vm`): they deploy more apps and boot
// more often than CI's budget holds under emulation (docs/testhost.md has the times).
// The emulated CPU is 20-50x slower than native: every time here is a timeout, never a goal.
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { diskOf } from '../../scripts/lib/vm/vm.mjs';
import { keepDepsLayers, keptDepsLayer } from '../../scripts/lib/vm/deps-cache.mjs';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { compiledCrates } from '../helpers/compiled-crates.js';
import { freezesAndThaws } from '../helpers/warm-tier.js';
import { bootPi, firmwareCommandLine, PiSuite, GUEST_PORT, SRC, STOCK_CMDLINE, type VmSession, type PiBoot } from '../helpers/vm-guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = process.env.RUSTLESS_VM_INSTANCE ?? 'vm-pi';
const GATEWAY_FLAGS = '--idle-timeout 6 --build-timeout 3600';

requireTestHostPrerequisites(t, ROOT);
// A first run debootstraps an arm64 root (15-25 min), unless `npm test` prepared it meanwhile;
// a first deploy on a fresh machine builds the shared dependencies under emulation.
t.setTimeout(110 * 60_000);

const pi = new PiSuite(t, NAME, ROOT);
let session: VmSession;

async function boot(tt: Test, options: PiBoot): Promise<void> {
  session = await pi.boot(tt, options);
}

t.test('a Pi: arm64, cgroup v2 with the memory controller, systemd 256+; install.mjs; the doctor passes; the gateway answers', async (t) => {
  await boot(t, { keepDisk: false });
  const s = session;
  t.equal((await s.ok(t, 'uname -m')).stdout.trim(), 'aarch64', 'arm64');
  t.equal((await s.ok(t, 'stat -fc %T /sys/fs/cgroup')).stdout.trim(), 'cgroup2fs', 'the unified cgroup v2 hierarchy');
  t.match((await s.ok(t, 'cat /sys/fs/cgroup/cgroup.controllers')).stdout, /\bmemory\b/, 'with the memory controller');
  t.match((await s.ok(t, 'cat /sys/kernel/mm/transparent_hugepage/enabled')).stdout, /\[never\]/, "no transparent huge pages: Raspberry Pi OS's kernels have none");
  const systemd = Number((await s.ok(t, 'systemctl --version | head -1')).stdout.match(/systemd (\d+)/)?.[1]);
  t.ok(systemd >= 256, `systemd ${systemd}`);
  const native = await s.ok(t, `cd /opt/rustless && node -e "const D = require('better-sqlite3'); console.log(new D(':memory:').prepare('select sqlite_version() v').get().v); require('sd-notify'); console.log(process.arch)"`);
  t.match(native.stdout, /^3\.\d+\.\d+\narm64\n$/, 'the guest\'s own native modules (better-sqlite3, sd-notify) load on arm64');
  const install = await s.install(t, GATEWAY_FLAGS);
  t.match(install.stdout, /ready for the systemd backend/, 'rustless doctor --backend systemd passes');
  await session.gatewayAnswers(t);
  t.match((await s.ok(t, 'rustless doctor --backend systemd')).stdout, /memory/, 'the doctor checks the memory controller');
});

t.test('memory controller off, as on stock Raspberry Pi OS: the doctor says so with the fix; install.mjs makes it; after the reboot it is on', async (t) => {
  await session.ok(t, `mkdir -p /boot/firmware && echo '${STOCK_CMDLINE}' > /boot/firmware/cmdline.txt`, "a Pi's cmdline.txt");
  await boot(t, { kernelArgs: firmwareCommandLine(STOCK_CMDLINE), keepDisk: true });
  const s = session;
  t.notMatch((await s.ok(t, 'cat /sys/fs/cgroup/cgroup.controllers')).stdout, /\bmemory\b/, 'the kernel has no memory controller');
  const doctor = await s.sh('rustless doctor --backend systemd');
  const said = doctor.stdout + doctor.stderr;
  t.not(doctor.exitCode, 0, 'rustless doctor --backend systemd fails');
  t.match(said, /memory/, 'on its memory check');
  t.match(said, /cgroup_enable=memory/, 'naming the fix');
  t.match(said, /\/boot\/firmware\/cmdline\.txt/, 'and the file');
  await session.gatewayAnswers(t);
  const journal = await s.ok(t, 'journalctl -b -u rustless.service --no-pager -o cat');
  t.equal(journal.stdout.split('\n').filter((line) => /memory is not limited/i.test(line)).length, 1, 'one journal line says memory is not limited');
  const cmdline = await s.enableMemoryCgroup(t, GATEWAY_FLAGS);

  // The reboot the fix asks for.
  await boot(t, { kernelArgs: firmwareCommandLine(cmdline), keepDisk: true });
  t.match((await s.ok(t, 'cat /sys/fs/cgroup/cgroup.controllers')).stdout, /\bmemory\b/, 'after the reboot the kernel has the memory controller');
  t.equal((await s.sh('rustless doctor --backend systemd')).exitCode, 0, 'and the doctor passes');
});

t.test("16K pages: a Pi 5's kernel on a Cortex-A76; the gateway starts and answers", async (t) => {
  await boot(t, { kernelFlavour: 'arm64-16k', keepDisk: true });
  const s = session;
  t.equal((await s.ok(t, 'getconf PAGESIZE')).stdout.trim(), '16384', '16K pages');
  t.match((await s.ok(t, 'uname -r')).stdout, /16k/, 'the arm64-16k kernel');
  await session.gatewayAnswers(t);
});

t.test('a reboot that fails says why, and keeps the disk: the next boot comes up from it', async (t) => {
  // qemu refuses a machine with more memory than this one has at once, before the guest prints a line.
  const failed = await bootPi(t, NAME, ROOT, { memory: 999_999_999, keepDisk: true }).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.match(failed, { code: 'TESTHOST_BOOT_FAILED', message: /^qemu exited while booting \(exit code 1\)/ }, 'the boot fails, with how qemu ended');
  t.match((failed as Error).message, /--- qemu\n.*cannot set up guest memory/, "and qemu's own words");
  t.ok(existsSync(diskOf(NAME)), 'the disk is kept');
  await boot(t, { keepDisk: true });
  t.equal((await session.ok(t, 'uname -m')).stdout.trim(), 'aarch64', 'the next boot comes up from it');
  await session.gatewayAnswers(t);
});

t.test("a function's own build inside the VM, as on a Pi: hello deployed, compiled there, answers; idle, it freezes, and a request thaws it", async (t) => {
  const s = session;
  await s.ok(t, `mkdir -p /root/apps && rm -rf /root/apps/hello && cp -r ${SRC}/runner/examples/hello /root/apps/hello && rm -rf /root/apps/hello/target`);
  const kept = keptDepsLayer('arm64') !== undefined;
  t.comment(kept ? 'the shared dependencies come from an earlier VM on this machine (scripts/lib/vm/deps-cache.mjs): only hello compiles' : "no earlier VM kept the shared dependencies (as on CI's fresh machine): this first deploy builds them in the VM too, under emulation");
  const output = await s.deploy(t, 'hello');
  if (!kept) t.match(output, /^rustless: building the shared dependencies [0-9a-f]{24} first/m, 'the shared dependencies built inside the VM first');
  const compiled = compiledCrates(output);
  t.ok(compiled.includes('hello') && compiled.includes('rustless-app-hello'), 'cargo compiled hello and its runner crate inside the VM', { compiled });
  t.match(output, /^rustless: building in the sandbox unit rustless-build-hello-\S+\.service as the dynamic user/m, 'in the sandboxed build unit');
  t.match(output, /^rustless: peak build memory \d+(\.\d)? [MG]iB \(build; MemoryMax=/m, "the build's peak memory, from its cgroup2");
  t.notMatch(output, /OOM kill/, 'no compiler OOM-killed');
  // e_machine, bytes 18-19 of the ELF header: 0xb7 is AArch64.
  t.equal((await s.ok(t, 'od -An -tx1 -j18 -N2 /var/lib/rustless/builds/*/runner')).stdout.trim(), 'b7 00', 'an arm64 binary');
  t.same((await s.get('/hello/pi')).body, { message: 'hello pi' }, 'hello answers through the socket-activated gateway (a cold start of its container)');
  // For the next VM on this machine (`npm run test:vm`, bench-pi): a Pi keeps them after its first deploy too.
  if (!kept) await keepDepsLayers(s.vm as never, 'arm64', { log: (m: string) => t.comment(m) });
  // The warm tier on a unified cgroup v2 hierarchy, in every CI run: idle for GATEWAY_FLAGS'
  // 6 s, hello is frozen with cgroup.freeze; its next request thaws it. (systemd's view of a
  // frozen app, its stop and a reboot with it frozen: pi-deploys.test.ts.)
  await freezesAndThaws(t, s);
});

t.test('hello stopped and the gateway quiet for a minute after its build: it restarts itself, and the new one serves', async (t) => {
  const s = session;
  const mainPid = async (): Promise<string> => (await s.vm.run('systemctl show -p MainPID --value rustless.service')).stdout.trim();
  await s.ok(t, 'rustless stop hello');
  const before = await mainPid();
  // --restart-after-builds' default 60 s of quiet, looked at every 10 s, and the restart itself.
  await s.eventually(async () => (await mainPid()) !== before && (await s.unitActive('rustless.service')) === 'active', 180_000, 'a new gateway process');
  const line = (await s.ok(t, `journalctl -u rustless.service _PID=${before} -o cat --no-pager | grep 'restarting the gateway'`)).stdout.trim();
  t.comment(line);
  t.match(line, /^rustless: restarting the gateway, quiet for 60 s after 1 build, to give back the memory they grew \(RSS [\d.]+ MiB, [\d.]+ MiB of it its own\)/, 'it says why, with what it held');
  t.same((await s.get('/hello/again')).body, { message: 'hello again' }, 'the new gateway cold-starts hello and answers');
});
