import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkMemory, checkPublicHttps, MIN_SYSTEMD, podmanVersionCheck, quadletCheck, systemdVersionCheck } from '../../../src/cli/doctor-checks.js';

t.test('the systemd backend needs a systemd that knows every setting its units use', async (t) => {
  t.match(systemdVersionCheck('systemd 257 (257.13-1~deb13u1)'), { name: 'systemd-run', ok: true, detail: 'systemd 257 (257.13-1~deb13u1)' }, "Debian trixie's");
  t.equal(systemdVersionCheck(`systemd ${MIN_SYSTEMD} (${MIN_SYSTEMD}.1-1)`).ok, true, 'the oldest that knows PrivateTmp=disconnected');
  const bookworm = systemdVersionCheck('systemd 252 (252.39-1~deb12u1)');
  t.equal(bookworm.ok, false, "bookworm's 252 would ignore PrivateTmp=disconnected and RestartSteps=");
  t.match(bookworm.fix, /needs Podman 4\.4\+ with Quadlet and systemd 256\+, which means Debian trixie or Raspberry Pi OS trixie; on this machine use the local backend/, 'the fix says what is needed, and the way out');
  t.equal(systemdVersionCheck('something else').ok, false, 'an unreadable version is not taken as new enough');
});

t.test('bookworm\'s Podman 4.3 has no Quadlet: the doctor says trixie, and points to the local backend', async (t) => {
  t.match(podmanVersionCheck('podman version 5.4.2'), { name: 'podman', ok: true, detail: 'podman version 5.4.2' }, "trixie's");
  t.equal(podmanVersionCheck('podman version 4.4.0').ok, true, 'the first with Quadlet');
  const bookworm = podmanVersionCheck('podman version 4.3.1');
  t.equal(bookworm.ok, false);
  t.match(bookworm.fix, /^the systemd backend needs Podman 4\.4\+ with Quadlet and systemd 256\+, which means Debian trixie or Raspberry Pi OS trixie; on this machine use the local backend \(rustless gateway --backend local/);
  t.equal(podmanVersionCheck('podman version 3.10.0').ok, false, 'compared as numbers, not text');
  t.equal(podmanVersionCheck('podman: unknown').ok, false, 'an unreadable version is not taken as new enough');

  t.match(quadletCheck([undefined, '/usr/libexec/podman/quadlet']), { ok: true, detail: '/usr/libexec/podman/quadlet' });
  const none = quadletCheck([undefined, undefined]);
  t.equal(none.ok, false);
  t.match(none.fix, /Podman 4\.4\+ with Quadlet .* trixie; on this machine use the local backend/);
});

t.test('without the memory controller the doctor fails a memory check that names the exact fix', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'rustless-doctor-cgroup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io pids\n');
  const off = checkMemory({ cgroupRoot: root });
  t.equal(off.name, 'memory');
  t.equal(off.ok, false);
  t.match(off.detail, 'MemoryMax= is accepted and limits nothing');
  t.equal(off.fix, 'append cgroup_enable=memory to the one line of /boot/firmware/cmdline.txt and reboot (sudo rustless install --enable-memory-cgroup makes that edit)');
  await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  t.match(checkMemory({ cgroupRoot: root }), { ok: true, fix: undefined });
});

t.test('the caddy check runs only on a host installed with --public', async (t) => {
  t.same(await checkPublicHttps('/nonexistent/public.conf'), []);
  // Here no caddy.service runs (and Caddy may not be installed): either way the check fails with the way out.
  const dropIn = join(await mkdtemp(join(tmpdir(), 'rustless-doctor-')), 'public.conf');
  await writeFile(dropIn, '[Service]\nEnvironment=RUSTLESS_TRUST_PROXY=127.0.0.1\n');
  const [caddy] = await checkPublicHttps(dropIn);
  t.match(caddy, { name: 'caddy', ok: false, fix: /apt install caddy|systemctl enable --now caddy/ });
});
