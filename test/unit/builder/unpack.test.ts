import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { isRustlessError, type ErrorCode } from '../../../src/errors.js';
import { packCrate } from '../../../src/builder/pack.js';
import { unpackUpload } from '../../../src/builder/unpack.js';
import type { UploadLimits } from '../../../src/builder/upload-limits.js';
import { CRATE_FILES, rawHeader, snapshot, tarOf, tgzOf, type EntrySpec } from './fixtures/tar.js';

// The bombs decompress ~300 MiB in all: slow on a Pi.
t.setTimeout(5 * 60_000);
const root = await mkdtemp(join(tmpdir(), 'rustless-unpack-'));
t.teardown(() => rm(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh parent dir holding one unrelated file; the upload goes to `<parent>/uploads/dest`. */
async function sandbox(): Promise<{ parent: string; dest: string }> {
  const parent = join(root, `case-${++counter}`);
  await mkdir(join(parent, 'uploads'), { recursive: true });
  await writeFile(join(parent, 'keep.txt'), 'unrelated');
  return { parent, dest: join(parent, 'uploads', 'dest') };
}

async function refuses(
  t: Test,
  archive: Buffer,
  code: ErrorCode,
  mention: RegExp,
  limits?: Partial<UploadLimits>,
): Promise<void> {
  const { parent, dest } = await sandbox();
  const before = await snapshot(parent);
  const error = await unpackUpload(archive, dest, limits).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(isRustlessError(error, code), `rejects with ${code}`, { got: error });
  t.match((error as Error).message, mention, 'the message names the entry and the reason');
  t.notOk(existsSync(dest), 'the dest dir does not exist');
  t.same(await snapshot(parent), before, 'nothing was written next to it');
}

t.test('absolute path', async (t) => {
  const outside = join(root, `evil-${process.pid}.txt`);
  await refuses(t, await tgzOf([...CRATE_FILES, { name: outside, content: 'pwned' }]), 'RUSTLESS_INVALID_UPLOAD', /evil.*absolute path/);
  t.notOk(existsSync(outside), 'the absolute path was not written');
});

t.test('.. components', async (t) => {
  await refuses(t, await tgzOf([...CRATE_FILES, { name: '../evil.txt', content: 'pwned' }]), 'RUSTLESS_INVALID_UPLOAD', /"\.\.\/evil\.txt".*`\.\.`/);
  await refuses(t, await tgzOf([...CRATE_FILES, { name: 'src/../../../evil.txt', content: 'pwned' }]), 'RUSTLESS_INVALID_UPLOAD', /src\/\.\.\/.*`\.\.`/);
  t.notOk(existsSync(join(root, 'evil.txt')));
});

t.test('symlink', async (t) => {
  const entries: EntrySpec[] = [{ name: 'src', type: 'symlink', linkname: '/etc' }, ...CRATE_FILES];
  await refuses(t, await tgzOf(entries), 'RUSTLESS_INVALID_UPLOAD', /"src".*symbolic link/);
});

t.test('hard link', async (t) => {
  const entries: EntrySpec[] = [...CRATE_FILES, { name: 'passwd', type: 'link', linkname: '/etc/passwd' }];
  await refuses(t, await tgzOf(entries), 'RUSTLESS_INVALID_UPLOAD', /"passwd".*hard link/);
});

t.test('device files and fifos', async (t) => {
  const device: EntrySpec = { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 };
  await refuses(t, await tgzOf([...CRATE_FILES, device]), 'RUSTLESS_INVALID_UPLOAD', /"null".*device file/);
  const block: EntrySpec = { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 };
  await refuses(t, await tgzOf([...CRATE_FILES, block]), 'RUSTLESS_INVALID_UPLOAD', /"sda".*device file/);
  await refuses(t, await tgzOf([...CRATE_FILES, { name: 'pipe', type: 'fifo' }]), 'RUSTLESS_INVALID_UPLOAD', /"pipe".*fifo/);
  await refuses(t, await tgzOf([...CRATE_FILES, { name: 'c', type: 'contiguous-file' }]), 'RUSTLESS_INVALID_UPLOAD', /"c".*contiguous-file entry/);
});

t.test('too many files', async (t) => {
  const many: EntrySpec[] = Array.from({ length: 5001 }, (_, i) => ({ name: `src/f${i}.rs`, content: '' }));
  await refuses(t, await tgzOf([...CRATE_FILES, ...many]), 'RUSTLESS_UPLOAD_TOO_LARGE', /more than 5000 entries/);
  await refuses(t, await tgzOf([...CRATE_FILES, ...many.slice(0, 5)]), 'RUSTLESS_UPLOAD_TOO_LARGE', /more than 4 entries/, { maxFiles: 4 });
});

t.test('too many bytes, and gzip bombs', async (t) => {
  // Five 15 MiB files of zeros: each under the one-file limit, 75 MiB in all, 370 KiB compressed.
  const zeros = Buffer.alloc(15 * 1024 * 1024);
  const files: EntrySpec[] = Array.from({ length: 5 }, (_, i) => ({ name: `data/z${i}`, content: zeros }));
  const bomb = await tgzOf([...CRATE_FILES, ...files]);
  t.ok(bomb.length < 1024 * 1024, 'the bomb is small compressed');
  await refuses(t, bomb, 'RUSTLESS_UPLOAD_TOO_LARGE', /"data\/z4".*more than 67108864 bytes/);
  // 200 MiB of zeros without any tar header: tar readers skip zero blocks, so only the count stops it.
  await refuses(t, gzipSync(Buffer.alloc(200 * 1024 * 1024), { level: 9 }), 'RUSTLESS_UPLOAD_TOO_LARGE', /decompresses to more than/);
  await refuses(t, await tgzOf([...CRATE_FILES, { name: 'big', content: Buffer.alloc(2000) }]), 'RUSTLESS_UPLOAD_TOO_LARGE', /"big".*over the limit of 1000/, {
    maxFileBytes: 1000,
  });
});

t.test('a huge single-file header', async (t) => {
  // Claims 8 GiB and sends nothing: refused on the header alone, before any data is awaited.
  const archive = gzipSync(Buffer.concat([await tarOf(CRATE_FILES).then((b) => b.subarray(0, b.length - 1024)), rawHeader('huge.bin', 8 * 1024 ** 3 - 1)]));
  await refuses(t, archive, 'RUSTLESS_UPLOAD_TOO_LARGE', /"huge.bin".*8589934591 bytes/);
});

t.test('a compressed upload over its limit', async (t) => {
  await refuses(t, await tgzOf(CRATE_FILES), 'RUSTLESS_UPLOAD_TOO_LARGE', /over the limit of 100 bytes/, { maxCompressedBytes: 100 });
});

t.test('a path over the length limit', async (t) => {
  const long = `src/${'a'.repeat(600)}.rs`;
  await refuses(t, await tgzOf([...CRATE_FILES, { name: long, content: '' }]), 'RUSTLESS_INVALID_UPLOAD', /"src\/a+…".*607 characters long, over the limit of 512/);
});

t.test('non-gzip data', async (t) => {
  await refuses(t, Buffer.from('this is not a gzip stream at all'), 'RUSTLESS_INVALID_UPLOAD', /not a valid gzip stream/);
  await refuses(t, Buffer.alloc(0), 'RUSTLESS_INVALID_UPLOAD', /not a valid|no Cargo.toml/);
  // gzip of something that is not a tar.
  await refuses(t, gzipSync('plain text, no tar headers here, long enough to be a block? no.'), 'RUSTLESS_INVALID_UPLOAD', /not a valid tar archive/);
});

t.test('truncated archives', async (t) => {
  const tgz = await tgzOf([...CRATE_FILES, { name: 'src/big.rs', content: Buffer.alloc(100_000, 'x') }]);
  await refuses(t, tgz.subarray(0, Math.floor(tgz.length / 2)), 'RUSTLESS_INVALID_UPLOAD', /not a valid gzip stream \(unexpected end of file\)/);
  // A complete gzip around a tar cut in the middle of a file's data.
  const tarball = await tarOf([...CRATE_FILES, { name: 'src/big.rs', content: Buffer.alloc(100_000, 'x') }]);
  await refuses(t, gzipSync(tarball.subarray(0, 50_000)), 'RUSTLESS_INVALID_UPLOAD', /not a valid tar archive/);
});

t.test('an entry written twice, or a file in the way of a directory', async (t) => {
  await refuses(t, await tgzOf([...CRATE_FILES, { name: 'src/lib.rs', content: 'again' }]), 'RUSTLESS_INVALID_UPLOAD', /"src\/lib.rs".*appears twice/);
  await refuses(t, await tgzOf([...CRATE_FILES, { name: 'src/lib.rs/x.rs', content: '' }]), 'RUSTLESS_INVALID_UPLOAD', /"src\/lib.rs\/x.rs".*cannot be written/);
});

t.test('Cargo.toml and rustless.toml are required at the root', async (t) => {
  await refuses(t, await tgzOf(CRATE_FILES.filter((e) => e.name !== 'Cargo.toml')), 'RUSTLESS_INVALID_UPLOAD', /no Cargo.toml at its root/);
  await refuses(t, await tgzOf(CRATE_FILES.filter((e) => e.name !== 'rustless.toml')), 'RUSTLESS_INVALID_UPLOAD', /no rustless.toml at its root/);
  const prefixed = CRATE_FILES.map((e) => ({ ...e, name: `hello/${e.name}` }));
  await refuses(t, await tgzOf(prefixed), 'RUSTLESS_INVALID_UPLOAD', /no Cargo.toml at its root.*no prefix directory/);
});

t.test('pack -> unpack round trip', async (t) => {
  const crate = join(root, 'crate');
  await mkdir(join(crate, 'src', 'target'), { recursive: true });
  await mkdir(join(crate, 'target', 'release'), { recursive: true });
  await mkdir(join(crate, '.git'), { recursive: true });
  await mkdir(join(crate, 'node_modules', 'x'), { recursive: true });
  await mkdir(join(crate, 'empty'), { recursive: true });
  await writeFile(join(crate, 'Cargo.toml'), '[package]\nname = "hello"\n');
  await writeFile(join(crate, 'rustless.toml'), '[[routes]]\npath = "/"\nfunction = "Hello"\n');
  await writeFile(join(crate, 'src', 'lib.rs'), 'pub mod target;\n');
  await writeFile(join(crate, 'src', 'target', 'mod.rs'), '// a module called target\n');
  await writeFile(join(crate, 'build.sh'), '#!/bin/sh\n');
  await chmod(join(crate, 'build.sh'), 0o755);
  await writeFile(join(crate, 'target', 'release', 'big'), Buffer.alloc(1000));
  await writeFile(join(crate, '.git', 'HEAD'), 'ref: main\n');
  await writeFile(join(crate, 'node_modules', 'x', 'index.js'), '');

  const archive = await packCrate(crate);
  const { parent, dest } = await sandbox();
  await unpackUpload(archive, dest);
  t.same(await snapshot(dest), ['Cargo.toml', 'build.sh', 'empty', 'rustless.toml', 'src', 'src/lib.rs', 'src/target', 'src/target/mod.rs']);
  t.equal(await readFile(join(dest, 'src', 'target', 'mod.rs'), 'utf8'), '// a module called target\n');
  t.equal((await stat(join(dest, 'build.sh'))).mode & 0o777, 0o755, 'the executable bit travels');
  t.equal((await stat(join(dest, 'Cargo.toml'))).mode & 0o777, 0o644);
  t.same(await snapshot(join(parent, 'uploads')), ['dest', ...(await snapshot(dest)).map((p) => `dest/${p}`)], 'no temp dir left behind');
  t.same(await packCrate(crate), archive, 'packing is deterministic');

  await t.rejects(unpackUpload(archive, dest), { code: 'RUSTLESS_INTERNAL' }, 'an existing dest is never overwritten');
});

t.test('packCrate refuses symlinks', async (t) => {
  const crate = join(root, 'linked');
  await mkdir(join(crate, 'src'), { recursive: true });
  await writeFile(join(crate, 'Cargo.toml'), '');
  await symlink('/etc/passwd', join(crate, 'src', 'passwd'));
  await t.rejects(packCrate(crate), { code: 'RUSTLESS_INVALID_UPLOAD', message: /src\/passwd: is a symbolic link/ });
  await t.rejects(packCrate(join(root, 'missing')), { code: 'RUSTLESS_INVALID_UPLOAD', message: /cannot read the crate directory/ });
});
