// A gateway killed mid-deploy (SIGKILL: no chance to tidy up, as in a power cut) and the start
// after it: the build cut short is marked failed and the previous one serves; the start says in
// one line what it did. The same line reports a damaged registry it repaired and what an `rm` cut
// short left behind. After a clean stop there is nothing to say. (The VM's real power cuts:
// scripts/power-cut.mjs, test/vm/power-cut.test.ts.)
import t from 'tap';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { damageIndex } from '../helpers/damaged-registry.js';
import { EXAMPLES, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';

const stateDir = await mkdtemp(join(tmpdir(), 'rustless-crash-'));
const work = await mkdtemp(join(tmpdir(), 'rustless-crash-src-'));
let gw: TestGateway | undefined;
t.teardown(async () => {
  await gw?.stop();
  await rm(stateDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

const recoveryLines = (g: TestGateway): string[] => g.output.filter((line) => /recovery:/.test(line));

t.test('a gateway killed during a build: the next start fails the build, the previous one serves, one line says so', async (t) => {
  await cp(join(EXAMPLES, 'hello'), join(work, 'hello'), { recursive: true, filter: (src) => !src.includes('/target') });
  gw = await startGateway({ stateDir });
  t.same(recoveryLines(gw), [], 'a first start has nothing to recover');
  t.equal((await gw.deploy(join(work, 'hello'))).exitCode, 0);
  const lib = join(work, 'hello', 'src', 'lib.rs');
  await writeFile(lib, (await readFile(lib, 'utf8')).replace('"hello {}"', '"hello again {}"'));
  const queued = await gw.cli(['deploy', join(work, 'hello'), '--no-wait', '--json']);
  t.equal(queued.exitCode, 0, queued.stderr);
  const first = gw;
  await eventually(async () => (await first.app('hello')).latestBuild?.status === 'building', 60_000, 'the second build to start');
  await gw.stop('SIGKILL');

  gw = await startGateway({ stateDir });
  const lines = recoveryLines(gw);
  t.equal(lines.length, 1, `one line: ${lines.join(' | ')}`);
  t.match(lines[0], /^rustless: the last gateway did not stop cleanly; recovery: build hello #2 cut short, marked failed \(the previous build serves\) \(registry integrity ok, 1 live app in place\)$/);
  t.same((await gw.get('/hello/pi')).body, { message: 'hello pi' }, 'build 1 serves');
  const app = await gw.app('hello');
  t.equal(app.currentBuild, 1);
  t.match(app.builds.find((b: { id: number }) => b.id === 2), { status: 'failed', error: 'the gateway stopped during this build' });
});

t.test('after a clean stop, no line; a damaged registry index and what an rm cut short left are repaired and reported', async (t) => {
  await gw!.stop();
  gw = await startGateway({ stateDir });
  t.same(recoveryLines(gw), [], 'a clean stop leaves nothing to recover');
  await gw.stop();

  const file = join(stateDir, 'rustless.db');
  damageIndex(file, 'builds_by_app');
  // What an `rm` of an app `ghost` cut short after its registry rows went: its secrets and a build.
  await mkdir(join(stateDir, 'secrets', 'ghost'), { recursive: true });
  await writeFile(join(stateDir, 'secrets', 'ghost', 'TOKEN'), 'x');
  await mkdir(join(stateDir, 'builds', '999'), { recursive: true });

  gw = await startGateway({ stateDir });
  const lines = recoveryLines(gw);
  t.equal(lines.length, 1, `one line: ${lines.join(' | ')}`);
  t.match(lines[0], /recovery: the registry .* failed its integrity check \(.*builds_by_app.*\); its indexes were rebuilt \(REINDEX\) and it passes now; 1 build directory of removed apps deleted; the secrets of removed app ghost deleted/);
  t.notOk(existsSync(join(stateDir, 'secrets', 'ghost')), "ghost's secrets are gone");
  t.notOk(existsSync(join(stateDir, 'builds', '999')), 'and its build');
  t.same((await gw.get('/hello/pi')).body, { message: 'hello pi' }, 'hello still serves');
});
