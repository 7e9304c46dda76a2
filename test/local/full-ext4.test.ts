// A full ext4 card, where a directory takes a block (on tmpfs, as in full-disk.test.ts, it takes
// none): making a directory fails with ENOSPC and rust-less's no-space error, not the ENOENT that
// Node's promise `mkdir(..., { recursive: true })` reports there, which made a deploy in the full
// arm64 VM say `ENOENT: no such file or directory, mkdir '/var/lib/rustless/uploads'`.
import t from 'tap';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory } from '../../src/storage/make-directory.js';
import { naming } from '../../src/storage/no-space.js';

t.equal(process.getuid?.(), 0, 'this test mounts an ext4 image: it runs as root, as CI does');
const work = await mkdtemp(join(tmpdir(), 'rustless-full-ext4-'));
const image = join(work, 'card.img');
const mount = join(work, 'card');
await execa('mkdir', [mount]);
await execa('truncate', ['-s', '8M', image]);
await execa('mkfs.ext4', ['-q', image]);
await execa('mount', ['-o', 'loop', image, mount]);
t.teardown(async () => {
  await execa('umount', [mount], { reject: false });
  await rm(work, { recursive: true, force: true });
});

// Every block, root's reserve too (the gateway runs as root): fallocate all but 1 MiB, then dd.
const { bfree, bsize } = statfsSync(mount);
await execa('fallocate', ['-l', String(bfree * bsize - 1024 * 1024), join(mount, 'fill')]);
await execa('sh', ['-c', `dd if=/dev/zero of=${join(mount, 'rest')} bs=1k 2>/dev/null || true`]);
t.equal(statfsSync(mount).bavail, 0, 'the card has no block left');

t.test('making a directory on it fails with ENOSPC, at any depth', async (t) => {
  await t.rejects(makeDirectory(join(mount, 'uploads'), 0o700), { code: 'ENOSPC' });
  await t.rejects(makeDirectory(join(mount, 'builds', '7', 'src')), { code: 'ENOSPC' });
});

t.test('and becomes the error that names the full filesystem', async (t) => {
  const where = join(mount, 'uploads');
  await t.rejects(
    naming('receiving the upload', where, () => makeDirectory(where, 0o700)),
    { code: 'RUSTLESS_NO_SPACE', message: new RegExp(`^no space left on device: receiving the upload failed, ${where} is on a full filesystem \\(0 KiB free of `) },
  );
});

t.test('once space is freed, it makes the directory', async (t) => {
  await rm(join(mount, 'fill'));
  t.equal(await makeDirectory(join(mount, 'builds', '7', 'src')), join(mount, 'builds'), 'the first directory it made');
  t.equal(await makeDirectory(join(mount, 'builds', '7', 'src')), undefined, 'none the second time');
});
