// Deploys through the real CLI: new versions, broken builds, rollback, conflicts, bad manifests,
// `rustless new`, and deletion.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { Agent, request } from 'undici';
import { packCrate } from '../../src/builder/pack.js';
import { CLI, EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let work: string;

/** A copy of an example crate, without its build output. */
async function copyExample(example: string, dir: string): Promise<void> {
  await cp(join(EXAMPLES, example), dir, { recursive: true, filter: (src) => !src.includes('/target') });
}

/** A copy of the testbed example whose `version` function answers `version`. */
async function testbedAt(version: number, edit?: (lib: string) => string): Promise<string> {
  const dir = join(work, `testbed-v${version}-${Math.random().toString(36).slice(2)}`);
  await copyExample('testbed', dir);
  const lib = join(dir, 'src', 'lib.rs');
  let text = (await readFile(lib, 'utf8')).replace(/pub const VERSION: u64 = \d+;/, `pub const VERSION: u64 = ${version};`);
  if (edit) text = edit(text);
  await writeFile(lib, text);
  return dir;
}

t.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'rustless-deploys-'));
  gw = await startGateway();
});
t.teardown(() => gw.stop());

t.test('a new version replaces the old one; a broken build keeps the old one answering', async (t) => {
  t.equal((await gw.deploy(await testbedAt(1))).exitCode, 0);
  t.same((await gw.get('/version')).body, { version: 1 });

  t.equal((await gw.deploy(await testbedAt(2))).exitCode, 0);
  t.same((await gw.get('/version')).body, { version: 2 });

  const broken = await gw.deploy(await testbedAt(3, (lib) => `${lib}\nfn broken() -> u32 { "not a number" }\n`));
  t.not(broken.exitCode, 0, 'deploy exits non-zero');
  t.match(broken.stderr, /error\[E0308\]/, 'the compiler error is shown');
  t.match(broken.stderr, /mismatched types/);
  t.same((await gw.get('/version')).body, { version: 2 }, 'the old version still answers');

  const { stdout } = await gw.cli(['ls', '--json']);
  const testbed = JSON.parse(stdout).find((app: { name: string }) => app.name === 'testbed');
  t.equal(testbed.latestBuild.status, 'failed');
});

t.test('rollback serves the previous build again', async (t) => {
  const rolled = await gw.cli(['rollback', 'testbed']);
  t.equal(rolled.exitCode, 0, rolled.stderr);
  t.same((await gw.get('/version')).body, { version: 1 });
});

t.test('a route that conflicts with another app is refused, naming both', async (t) => {
  const dir = join(work, 'clash');
  await copyExample('hello', dir);
  await writeFile(join(dir, 'rustless.toml'), 'name = "clash"\n[[routes]]\nmethod = ["GET", "POST"]\npath = "/version"\nfunction = "Hello"\n');
  const result = await gw.deploy(dir);
  t.not(result.exitCode, 0);
  t.match(result.stderr, 'route GET,POST /version (app clash, function Hello) conflicts with GET /version (app testbed, function Version)');
  const ls = JSON.parse((await gw.cli(['ls', '--json'])).stdout);
  t.notOk(ls.find((app: { name: string }) => app.name === 'clash'), 'nothing was recorded');
});

t.test('an app cannot take paths another app answers, with any method; a fallback takes only what nobody answers', async (t) => {
  const dir = join(work, 'thief');
  await copyExample('hello', dir);
  await writeFile(join(dir, 'rustless.toml'), 'name = "thief"\n[[routes]]\nmethod = "DELETE"\npath = "/:what"\nfunction = "Hello"\n');
  const refused = await gw.deploy(dir);
  t.not(refused.exitCode, 0);
  t.match(refused.stderr, /route DELETE \/:what \(app thief, function Hello\) conflicts with GET \/version \(app testbed, function Version\): both match \/version/);
  t.equal((await gw.send('DELETE', '/version')).status, 405, "testbed's 405 stays testbed's");

  await writeFile(join(dir, 'rustless.toml'), 'name = "thief"\n[[routes]]\nmethod = "*"\npath = "/*rest"\nfunction = "Hello"\nfallback = true\n');
  const fallback = await gw.deploy(dir);
  t.equal(fallback.exitCode, 0, fallback.stderr);
  t.match(fallback.stderr, /\* +\/\*rest -> Hello \(fallback\)/, 'deploy says it is a fallback');
  t.match((await gw.cli(['ls'])).stdout, /\* \/\*rest \(fallback\)/, 'so does ls');
  t.match((await gw.get('/version')).body, { version: Number }, 'testbed still answers its paths');
  const taken = await gw.send('DELETE', '/version');
  t.equal(taken.status, 405, 'and its 405s');
  t.equal(taken.headers.allow, 'GET, HEAD');
  const caught = await gw.get('/no/app/has/this');
  t.equal(caught.status, 200, 'the fallback answers what nobody else does');
  t.same(caught.body, { message: 'hello world' });
  const app = await gw.app('thief');
  t.same(app.routes, [{ methods: ['*'], path: '/*rest', function: 'Hello', timeoutMs: 30000, fallback: true }]);
  t.equal((await gw.cli(['rm', 'thief'])).exitCode, 0);
});

t.test('an upload refused for its Cargo.toml leaves nothing behind', async (t) => {
  const dir = join(work, 'inherits');
  await copyExample('hello', dir);
  await writeFile(join(dir, 'rustless.toml'), 'name = "inherits"\n[[routes]]\npath = "/inherits"\nfunction = "Hello"\n');
  const cargo = join(dir, 'Cargo.toml');
  await writeFile(cargo, (await readFile(cargo, 'utf8')).replace('[package]\n', '[package]\nauthors.workspace = true\n'));
  const buildsBefore = await readdir(join(gw.stateDir, 'builds'));
  const reply = await upload(await packCrate(dir));
  t.equal(reply.status, 400);
  t.equal(reply.body.error.code, 'RUSTLESS_INVALID_UPLOAD');
  t.match(reply.body.error.message, /`package.authors` is inherited from a workspace/);
  const ls = JSON.parse((await gw.cli(['ls', '--json'])).stdout);
  t.notOk(ls.find((app: { name: string }) => app.name === 'inherits'), 'no app recorded');
  t.same(await readdir(join(gw.stateDir, 'builds')), buildsBefore, 'nothing written under builds/');
  const cli = await gw.deploy(dir);
  t.not(cli.exitCode, 0, 'the CLI refuses it before uploading');
  t.match(cli.stderr, /`package.authors` is inherited from a workspace/);
});

t.test('uploads up to 32 MiB are taken, as docs/admin-api.md says; bigger ones get 413', async (t) => {
  const dir = join(work, 'big');
  await copyExample('hello', dir);
  // Random bytes do not compress: the archive is about 24 MiB. The manifest is broken on purpose, so it fails after the size checks.
  await writeFile(join(dir, 'rustless.toml'), 'name = "big"\n');
  await writeFile(join(dir, 'blob-1.bin'), randomBytes(12 * 1024 * 1024));
  await writeFile(join(dir, 'blob-2.bin'), randomBytes(12 * 1024 * 1024));
  const archive = await packCrate(dir);
  t.ok(archive.length > 24 * 1024 * 1024, `the archive is ${archive.length} bytes`);
  const taken = await upload(archive);
  t.equal(taken.status, 422, 'past the size checks, refused for its manifest');
  t.equal(taken.body.error.code, 'RUSTLESS_INVALID_MANIFEST');
  const tooBig = await upload(Buffer.concat([archive, randomBytes(9 * 1024 * 1024)]));
  t.equal(tooBig.status, 413);
  t.equal(tooBig.body.error.code, 'RUSTLESS_UPLOAD_TOO_LARGE');
  t.match(tooBig.body.error.message, /limit of 33554432 bytes \(32 MiB\)/);
});

/** POSTs an archive to the admin API's /v1/builds over the admin socket. */
async function upload(archive: Buffer): Promise<{ status: number; body: any }> {
  const response = await request('http://admin/v1/builds', {
    method: 'POST',
    body: archive,
    headers: { 'content-type': 'application/gzip' },
    dispatcher: new Agent({ connect: { socketPath: gw.adminSocket } }),
  });
  return { status: response.statusCode, body: await response.body.json() };
}

t.test('a broken rustless.toml is refused before upload, naming the file, key and value', async (t) => {
  const dir = join(work, 'badtoml');
  await copyExample('hello', dir);
  await writeFile(join(dir, 'rustless.toml'), 'name = "badtoml"\n[[routes]]\nmethod = "FETCH"\npath = "/x"\nfunction = "Hello"\n');
  const result = await gw.deploy(dir);
  t.not(result.exitCode, 0);
  t.match(result.stderr, /rustless\.toml: `routes\[0\]\.method` must be one of .* got "FETCH"/);
});

t.test('rustless new scaffolds an app that passes cargo test and deploys as is', async (t) => {
  const dir = join(work, 'greeter');
  const created = await execa(process.execPath, [CLI, 'new', dir]);
  t.match(created.stdout, /created greeter/);
  const tested = await execa('cargo', ['test'], { cwd: dir, reject: false, env: { CARGO_TARGET_DIR: join(work, 'greeter-target') } });
  t.equal(tested.exitCode, 0, tested.stderr);
  t.match(tested.stdout, /test result: ok\. 2 passed/);
  t.equal((await gw.deploy(dir)).exitCode, 0);
  const reply = await gw.get('/greeter/hello/pi');
  t.same(reply.body, { message: 'hello pi' });
  const posted = await gw.send('POST', '/greeter/greetings', { name: 'zero' });
  t.equal(posted.status, 201);
});

t.test('rm deletes the app and its routes answer 404', async (t) => {
  t.equal((await gw.cli(['rm', 'greeter'])).exitCode, 0);
  t.equal((await gw.get('/greeter/hello/pi')).status, 404);
  const missing = await gw.cli(['rm', 'greeter']);
  t.not(missing.exitCode, 0);
  t.match(missing.stderr, /no app named "greeter"/);
});
