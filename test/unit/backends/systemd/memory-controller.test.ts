// Whether memory limits hold, read from stand-in cgroup trees: a Pi's unified hierarchy with and
// without the memory controller, and the hybrid v1 layout of this project's CI host. (The lead's
// VM suite boots a real kernel with cgroup_disable=memory.)
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMemoryController } from '../../../../src/backends/systemd/memory-controller.js';

const PROC_ON = '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nmemory\t4\t67\t1\npids\t8\t1\t1\n';
const PROC_OFF = PROC_ON.replace('memory\t4\t67\t1', 'memory\t0\t1\t0');

function tree(files: Record<string, string>): string {
  const root = t.testdir();
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  return root;
}

t.test('unified: memory in cgroup.controllers, as a trixie kernel has it', async (t) => {
  const root = tree({ 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n' });
  t.match(readMemoryController({ cgroupRoot: root, procCgroups: join(root, 'none') }), { enforced: true, detail: /memory controller is on/ });
});

t.test('unified without it, as stock Raspberry Pi OS boots (cgroup_disable=memory)', async (t) => {
  // A 6.12 kernel no longer lists memory in /proc/cgroups; cgroup.controllers is what counts.
  const root = tree({ 'cgroup.controllers': 'cpuset cpu io pids rdma misc\n', proc: PROC_ON });
  const result = readMemoryController({ cgroupRoot: root, procCgroups: join(root, 'proc') });
  t.equal(result.enforced, false, 'a stale /proc/cgroups does not make it on');
  t.match(result.detail, `${root}/cgroup.controllers lists cpuset cpu io pids rdma misc (a kernel booted with cgroup_disable=memory`);
  t.equal(readMemoryController({ cgroupRoot: tree({ 'cgroup.controllers': '' }) }).enforced, false, 'an empty list');
  t.equal(readMemoryController({ cgroupRoot: tree({ 'cgroup.controllers': 'memoryx pids\n' }) }).enforced, false, 'a whole word, not a prefix');
});

t.test('hybrid v1 (the CI host): the mount decides; /proc/cgroups says why not', async (t) => {
  const files = { 'unified/cgroup.controllers': '', 'memory/memory.limit_in_bytes': '9223372036854771712\n' };
  const on = tree({ ...files, proc: PROC_ON });
  t.match(readMemoryController({ cgroupRoot: on, procCgroups: join(on, 'proc') }), { enforced: true, detail: /cgroup v1 memory controller is on/ });
  // rustless.service runs with ProcSubset=pid: no /proc/cgroups, and the mount still counts.
  t.match(readMemoryController({ cgroupRoot: on, procCgroups: join(on, 'hidden') }), { enforced: true });

  const disabled = tree({ 'unified/cgroup.controllers': '', proc: PROC_OFF });
  const off = readMemoryController({ cgroupRoot: disabled, procCgroups: join(disabled, 'proc') });
  t.equal(off.enforced, false);
  t.match(off.detail, 'shows it disabled (cgroup_disable=memory)');

  const unmounted = tree({ 'unified/cgroup.controllers': '', proc: PROC_ON });
  t.match(readMemoryController({ cgroupRoot: unmounted, procCgroups: join(unmounted, 'proc') }), { enforced: false, detail: /shows it enabled, but it is not mounted/ });

  const unlisted = tree({ 'unified/cgroup.controllers': '', proc: PROC_ON.replace(/memory.*\n/, '') });
  t.match(readMemoryController({ cgroupRoot: unlisted, procCgroups: join(unlisted, 'proc') }), { enforced: false, detail: /does not list it/ });
  t.match(readMemoryController({ cgroupRoot: unlisted, procCgroups: join(unlisted, 'hidden') }), { enforced: false, detail: /is not readable here/ });
});

t.test('RUSTLESS_CGROUP_ROOT moves the root, for tests of a whole gateway', async (t) => {
  const root = tree({ 'cgroup.controllers': 'cpu pids\n' });
  const saved = process.env.RUSTLESS_CGROUP_ROOT;
  process.env.RUSTLESS_CGROUP_ROOT = root;
  t.teardown(() => (saved === undefined ? delete process.env.RUSTLESS_CGROUP_ROOT : (process.env.RUSTLESS_CGROUP_ROOT = saved)));
  t.equal(readMemoryController().enforced, false);
});
