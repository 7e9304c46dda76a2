// A full card, on the local backend: the gateway's state directory (registry, builds, secrets,
// the apps' data) on a small tmpfs that is then filled to the last byte. A deploy, a secret set,
// a function writing its data and a gateway restart each fail with an error that names the cause
// and the place; what served keeps serving, nothing is half-written; once space is freed,
// everything works again with no human step. (The VM's ext4 version: docs/power-loss.md.)
import t from 'tap';
import { execa } from 'execa';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

t.equal(process.getuid?.(), 0, 'this test mounts a tmpfs: it runs as root, as CI does');
const mount = await mkdtemp(join(tmpdir(), 'rustless-full-disk-'));
await execa('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0755', 'rustless-full-disk', mount]);
const work = await mkdtemp(join(tmpdir(), 'rustless-full-disk-src-'));
let gw: TestGateway | undefined;
t.teardown(async () => {
  await gw?.stop();
  await execa('umount', [mount], { reject: false });
  await rm(mount, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

const filler = join(mount, 'filler');
/** Takes every free byte of the tmpfs: fallocate, then single bytes until ENOSPC. */
async function fill(): Promise<void> {
  const { bavail, bsize } = statfsSync(mount);
  await execa('fallocate', ['-l', String(bavail * bsize), filler]);
  await execa('sh', ['-c', `dd if=/dev/zero of=${filler}-rest bs=1 2>/dev/null || true`]);
  t.equal(statfsSync(mount).bavail, 0, 'the state directory has no free block left');
}

async function free(): Promise<void> {
  await rm(filler, { force: true });
  await rm(`${filler}-rest`, { force: true });
}

/** Files a failed write could have left behind: temporary names, half-written copies. */
async function strays(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((name) => /\.tmp$|\.tmp-|\.\d+\.tmp/.test(name));
}

const todosFile = (): string => join(mount, 'data', 'todo', 'todos.json');

t.before(async () => {
  await cp(join(EXAMPLES, 'testbed'), join(work, 'testbed'), { recursive: true, filter: (src) => !src.includes('/target') });
  gw = await startGateway({ stateDir: mount });
  for (const app of [join(EXAMPLES, 'todo'), join(work, 'testbed')]) {
    const deployed = await gw.deploy(app);
    if (deployed.exitCode !== 0) throw new Error(deployed.stderr);
  }
  const set = await gw.cli(['secret', 'set', 'testbed', 'TESTBED_TOKEN'], { input: 'old-value' });
  if (set.exitCode !== 0) throw new Error(set.stderr);
  if ((await gw.send('POST', '/todos', { title: 'before the card filled' })).status !== 201) throw new Error('todo did not take a POST');
  // testbed served with its secret before the card filled (its runner has its copy).
  if ((await gw.get('/config/secret/TESTBED_TOKEN')).body?.value !== 'old-value') throw new Error('testbed did not read its secret');
  await fill();
});

t.test('a deploy fails naming the full disk; the previous build keeps serving', async (t) => {
  await writeFile(join(work, 'testbed', 'src', 'lib.rs'), (await readFile(join(work, 'testbed', 'src', 'lib.rs'), 'utf8')).replace('pub const VERSION: u64 = 1;', 'pub const VERSION: u64 = 2;'));
  const deploy = await gw!.deploy(join(work, 'testbed'));
  t.not(deploy.exitCode, 0, 'the deploy fails');
  t.match(deploy.stderr, /no space left on device/, 'saying why');
  t.match(deploy.stderr, mount, 'and where');
  t.same((await gw!.get('/version')).body, { version: 1 }, 'build 1 serves');
  t.same(await strays(mount), [], 'no half-written file is left');
  t.same(await readdir(join(mount, 'uploads')).catch(() => []), [], 'nor a half-unpacked upload');
});

t.test('a secret set fails naming the full disk; the secret keeps its value', async (t) => {
  const set = await gw!.cli(['secret', 'set', 'testbed', 'TESTBED_TOKEN'], { input: 'new-value-that-needs-room' });
  t.not(set.exitCode, 0, 'the set fails');
  t.match(set.stderr, /no space left on device: setting secret TESTBED_TOKEN of app testbed failed/);
  t.match(set.stderr, join(mount, 'secrets', 'testbed'), 'naming the directory');
  t.equal(await readFile(join(mount, 'secrets', 'testbed', 'TESTBED_TOKEN'), 'utf8'), 'old-value', 'the stored value is the old one, whole');
  t.same((await gw!.get('/config/secret/TESTBED_TOKEN')).body, { name: 'TESTBED_TOKEN', value: 'old-value' }, 'the runner reads the old one');
  t.same(await strays(mount), [], 'no temporary file is left');
});

t.test("a function's write fails with 507 naming the file; its data keeps the last good content", async (t) => {
  const before = await readFile(todosFile(), 'utf8');
  const reply = await gw!.send('POST', '/todos', { title: 'x'.repeat(64 * 1024) });
  t.equal(reply.status, 507, reply.text);
  t.equal(reply.body.error.code, 'NO_SPACE');
  t.match(reply.body.error.message, /todos\.json.*No space left on device/);
  t.equal(await readFile(todosFile(), 'utf8'), before, 'todos.json is untouched');
  t.match(JSON.stringify((await gw!.get('/todos')).body), /before the card filled/, 'the list still answers');
  t.same(await strays(mount), [], 'no temporary file is left');
});

t.test('the gateway restarts on the full disk and serves', async (t) => {
  await gw!.stop();
  gw = await startGateway({ stateDir: mount });
  t.match(gw.output.join('\n'), /gateway\.running could not be written \(no space left on device\)/, 'it says what it could not write, and why');
  t.equal((await gw.get('/version')).status, 200, 'testbed answers');
  t.match(JSON.stringify((await gw.get('/todos')).body), /before the card filled/, 'todo answers with its data');
  t.same((await gw.get('/config/secret/TESTBED_TOKEN')).body.value, 'old-value');
});

t.test('once space is freed, everything works again with no other step', async (t) => {
  await free();
  const deploy = await gw!.deploy(join(work, 'testbed'));
  t.equal(deploy.exitCode, 0, deploy.stderr);
  t.same((await gw!.get('/version')).body, { version: 2 }, 'the new build serves');
  const set = await gw!.cli(['secret', 'set', 'testbed', 'TESTBED_TOKEN'], { input: 'new-value' });
  t.equal(set.exitCode, 0, set.stderr);
  t.same((await gw!.get('/config/secret/TESTBED_TOKEN')).body.value, 'new-value');
  t.equal((await gw!.send('POST', '/todos', { title: 'after' })).status, 201);
  t.match(JSON.stringify((await gw!.get('/todos')).body), /after/);
});
