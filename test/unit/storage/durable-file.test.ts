// Atomic, durable writes (src/storage/durable-file.ts) and full-disk errors that name the cause
// and the place (src/storage/no-space.ts), on real files; /dev/full gives a real ENOSPC.
import t from 'tap';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RustlessError } from '../../../src/errors.js';
import { writeFileDurable, writeFileIfChanged } from '../../../src/storage/durable-file.js';
import { isNoSpace, naming } from '../../../src/storage/no-space.js';

const dir = await mkdtemp(join(tmpdir(), 'rustless-durable-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('writeFileDurable replaces the content, with its mode, leaving nothing beside it', async (t) => {
  const file = join(dir, 'secret');
  await writeFileDurable(file, 'old');
  await writeFileDurable(file, 'new', { mode: 0o640 });
  t.equal(await readFile(file, 'utf8'), 'new');
  t.equal((await stat(file)).mode & 0o777, 0o640);
  t.same(await readdir(dir), ['secret']);
});

t.test('a write that fails keeps the old content and leaves no temporary file', async (t) => {
  const sub = join(dir, 'fail');
  await mkdir(sub);
  const file = join(sub, 'unit');
  await writeFileDurable(file, 'old');
  // The temporary name taken by a directory: the write fails as it would on a full disk.
  await mkdir(join(sub, `.unit.${process.pid}.tmp`));
  await t.rejects(writeFileDurable(file, 'new'));
  t.equal(await readFile(file, 'utf8'), 'old');
});

t.test('writeFileIfChanged writes only a change', async (t) => {
  const file = join(dir, 'nested', 'unit.socket');
  t.equal(await writeFileIfChanged(file, 'a'), true, 'a new file, its directory made');
  const before = (await stat(file)).ino;
  t.equal(await writeFileIfChanged(file, 'a'), false, 'the same text: nothing written');
  t.equal((await stat(file)).ino, before);
  t.equal(await writeFileIfChanged(file, 'b'), true);
});

t.test('a full disk is recognised from Node, SQLite and tools, and named with its place', async (t) => {
  let enospc: unknown;
  try {
    writeFileSync('/dev/full', 'x');
  } catch (error) {
    enospc = error;
  }
  t.ok(isNoSpace(enospc), 'ENOSPC from Node');
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (x TEXT)');
  db.pragma('max_page_count = 3');
  let full: unknown;
  try {
    for (;;) db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(1000));
  } catch (error) {
    full = error;
  }
  db.close();
  t.ok(isNoSpace(full), `SQLite's ${(full as { code?: string }).code}`);
  t.ok(isNoSpace(new RustlessError('RUSTLESS_BUILD_FAILED', 'error: failed to write: No space left on device (os error 28)')), "cargo's words");
  t.notOk(isNoSpace(new Error('EACCES: permission denied')));
  const error = await naming('setting secret X of app a', dir, () => Promise.reject(enospc)).catch((e: unknown) => e);
  t.match(error, { code: 'RUSTLESS_NO_SPACE', status: 507, message: new RegExp(`^no space left on device: setting secret X of app a failed, ${dir} is on a full filesystem \\(.* free of .*\\)`) });
  t.same((error as RustlessError).details, { path: dir });
  const other = await naming('x', dir, () => Promise.reject(new Error('EACCES'))).catch((e: unknown) => e);
  t.match(other, { message: 'EACCES' }, 'any other error passes through');
});
