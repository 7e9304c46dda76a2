// install.mjs --enable-memory-cgroup's edit of a Pi's /boot/firmware/cmdline.txt, on copies of
// such files: one line kept, the word added once, the original kept, bad files left alone.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmdlineEnables, enableMemoryCgroup } from '../../../scripts/lib/memory-cgroup.mjs';

const PI = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles cfg80211.ieee80211_regdom=GB\n';

function cmdline(text: string): string {
  const file = join(t.testdir(), 'cmdline.txt');
  writeFileSync(file, text);
  return file;
}

t.test("Raspberry Pi OS's line gets cgroup_enable=memory at its end, and stays one line", async (t) => {
  const file = cmdline(PI);
  t.notOk(await cmdlineEnables(file));
  const result = await enableMemoryCgroup(file);
  t.equal(result.changed, true);
  t.equal(readFileSync(file, 'utf8'), `${PI.trim()} cgroup_enable=memory\n`);
  t.equal(readFileSync(result.backup!, 'utf8'), PI, 'the original is kept beside it');
  t.ok(await cmdlineEnables(file));
  t.notOk(existsSync(`${file}.rustless-new`), 'no temporary file left');

  const again = await enableMemoryCgroup(file);
  t.equal(again.changed, false, 'a second run changes nothing');
  t.equal(readFileSync(file, 'utf8'), `${PI.trim()} cgroup_enable=memory\n`);
  t.equal(readFileSync(result.backup!, 'utf8'), PI, 'and keeps the first original');
});

t.test("a cgroup_disable=memory of the file's own goes; blank lines and spaces are tidied", async (t) => {
  const file = cmdline(`\n  root=/dev/mmcblk0p2   cgroup_disable=memory rootwait\r\n\n`);
  t.equal((await enableMemoryCgroup(file)).line, 'root=/dev/mmcblk0p2 rootwait cgroup_enable=memory');
  t.equal(readFileSync(file, 'utf8'), 'root=/dev/mmcblk0p2 rootwait cgroup_enable=memory\n');
  const after = cmdline('root=/dev/mmcblk0p2 cgroup_enable=memory cgroup_disable=memory\n');
  t.equal((await enableMemoryCgroup(after)).line, 'root=/dev/mmcblk0p2 cgroup_enable=memory', 'an enable before a disable did not count');
});

t.test('a file of two lines, or none, is refused and left as it was', async (t) => {
  for (const text of ['root=/dev/mmcblk0p2 rootwait\nquiet splash\n', '', '\n\n']) {
    const file = cmdline(text);
    await t.rejects(enableMemoryCgroup(file), /holds \d lines; the firmware reads one line only: make it one line by hand/);
    t.equal(readFileSync(file, 'utf8'), text);
    t.notOk(existsSync(`${file}.before-rustless`));
  }
  await t.rejects(enableMemoryCgroup(join(t.testdir(), 'missing.txt')), { code: 'ENOENT' });
});
