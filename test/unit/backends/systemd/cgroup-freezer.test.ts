// Which freezer a host offers, from the files its /sys/fs/cgroup has, on a stand-in tree (the
// real files are written in the test host by test/e2e/warm-tier.test.ts).
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findFreezer, freezeUnit, thaw } from '../../../../src/backends/systemd/cgroup-freezer.js';

function tree(files: string[]): string {
  const root = t.testdir();
  for (const file of files) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), '');
  }
  return root;
}

t.test('unified, hybrid and legacy hosts', async (t) => {
  const unified = tree(['cgroup.controllers']);
  t.same(findFreezer('auto', unified), { kind: 'cgroup2', root: unified });
  t.equal(findFreezer('cgroup1', unified), undefined, 'no v1 freezer on a unified host');

  const hybrid = tree(['unified/cgroup.controllers', 'freezer/tasks']);
  t.same(findFreezer('auto', hybrid), { kind: 'cgroup1', root: join(hybrid, 'freezer') }, 'hybrid: the v1 freezer controller');
  t.same(findFreezer('cgroup2', hybrid), { kind: 'cgroup2', root: join(hybrid, 'unified') }, 'hybrid: its cgroup2 when asked');

  const legacy = tree(['freezer/tasks']);
  t.same(findFreezer('auto', legacy), { kind: 'cgroup1', root: join(legacy, 'freezer') });
  t.equal(findFreezer('auto', tree([])), undefined, 'no freezer at all');
});

t.test('thaw writes each file, and says when the cgroup is gone', async (t) => {
  const root = tree(['a/freezer.state']);
  t.equal(thaw({ kind: 'cgroup1', files: [join(root, 'a/freezer.state')] }), true);
  t.equal(readFileSync(join(root, 'a/freezer.state'), 'utf8'), 'THAWED');
  t.equal(thaw({ kind: 'cgroup2', files: [join(root, 'gone/cgroup.freeze')] }), false);
});

t.test('cgroup2: a unit that stopped before its freeze is not frozen, and its cgroup is not made again', async (t) => {
  const root = tree(['cgroup.controllers', 'system.slice/cgroup.procs']);
  t.equal(await freezeUnit({ kind: 'cgroup2', root }, '/system.slice/rustless-fn-gone.service', 0, root), undefined);
  t.notOk(existsSync(join(root, 'system.slice/rustless-fn-gone.service')), 'no cgroup left behind for systemd to find');
});
