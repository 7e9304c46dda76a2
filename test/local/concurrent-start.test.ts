/**
 * Gateways on one machine share the local backend's cache dir (a test gateway beside the real
 * one, or every test file of a suite at once). Started at the same moment, the second died with
 * `ENOTEMPTY ... rmdir '.../runner/rustless-runner/src'` while the first copied runner/'s crates
 * into that cache; built at once, two same-named apps shared one work copy of the crate.
 */
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

const GATEWAYS = 6;

t.test(`${GATEWAYS} gateways started at once on a fresh shared cache all come up`, async (t) => {
  t.equal(process.getuid?.(), 0, 'this test runs as root, as CI does: the cache is then the build user\'s sandbox');
  const cache = await mkdtemp(join(tmpdir(), 'rustless-shared-cache-'));
  await chmod(cache, 0o755);
  t.teardown(() => rm(cache, { recursive: true, force: true }));

  const started = await Promise.allSettled(Array.from({ length: GATEWAYS }, () => startGateway({ args: ['--cache-dir', cache] })));
  const up = started.filter((s): s is PromiseFulfilledResult<TestGateway> => s.status === 'fulfilled').map((s) => s.value);
  t.teardown(() => Promise.all(up.map((g) => g.stop())));
  const failures = started.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => String(s.reason));
  t.same(failures, [], `all ${GATEWAYS} gateways listen`);
  t.equal(up.length, GATEWAYS);

  const [sandbox] = await readdir(cache);
  const staged = await readdir(join(cache, sandbox!, 'runner'));
  t.equal(staged.length, 1, `one copy of runner/'s crates, nothing half-made left behind: ${staged.join(', ')}`);
  t.same(await readdir(join(cache, sandbox!, 'runner', staged[0]!)), ['rustless', 'rustless-runner']);
});

t.test('two gateways build apps of the same name at the same moment', async (t) => {
  const [first, second] = await Promise.all([startGateway(), startGateway()]);
  t.teardown(() => Promise.all([first.stop(), second.stop()]));
  const deploys = await Promise.all([first.deploy(join(EXAMPLES, 'hello')), second.deploy(join(EXAMPLES, 'hello'))]);
  for (const [i, deploy] of deploys.entries()) t.equal(deploy.exitCode, 0, `gateway ${i + 1} deployed hello:\n${deploy.stdout}\n${deploy.stderr}`);
  t.same((await first.get('/hello/pi')).body, { message: 'hello pi' });
  t.same((await second.get('/hello/pi')).body, { message: 'hello pi' });
});
