// Settings, secrets and data directories on the local backend, through a real gateway, the
// real CLI and real runners built from the testbed and todo examples.
import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

const VALUE = 'correct horse battery staple';
let gw: TestGateway;
let deployStderr = '';

t.before(async () => {
  // Something only the gateway's environment holds: a runner must not inherit it.
  process.env.RUSTLESS_TEST_GATEWAY_ONLY = 'gateway-private';
  gw = await startGateway();
  const deployed = await gw.deploy(join(EXAMPLES, 'testbed'));
  if (deployed.exitCode !== 0) throw new Error(deployed.stderr);
  deployStderr = deployed.stderr;
});
t.teardown(() => gw.stop());

t.test('[env] settings reach the function; the gateway environment does not', async (t) => {
  t.same((await gw.get('/config/env/GREETING')).body, { name: 'GREETING', value: 'hej' });
  t.same((await gw.get('/config/env/RUSTLESS_TEST_GATEWAY_ONLY')).body, { name: 'RUSTLESS_TEST_GATEWAY_ONLY', value: null });
  t.same((await gw.app('testbed')).env, ['GREETING']);
});

t.test('a declared secret that is not set: deploy warns, ls says so, the function gets a clear error', async (t) => {
  t.match(deployStderr, /warning: testbed declares secret TESTBED_TOKEN, which is not set: rustless secret set testbed TESTBED_TOKEN/);
  const listed = await gw.cli(['secret', 'ls', 'testbed']);
  t.match(listed.stdout, /TESTBED_TOKEN\tNOT SET/);
  const reply = await gw.get('/config/secret/TESTBED_TOKEN');
  t.equal(reply.status, 500);
  t.equal(reply.body.error.code, 'SECRET_NOT_SET');
  t.match(reply.body.error.message, /rustless secret set testbed TESTBED_TOKEN/);
});

t.test('a secret set from stdin reaches the function, and its value is nowhere else', async (t) => {
  const set = await gw.cli(['secret', 'set', 'testbed', 'TESTBED_TOKEN'], { input: `${VALUE}\n` });
  t.equal(set.exitCode, 0, set.stderr);
  t.same((await gw.get('/config/secret/TESTBED_TOKEN')).body, { name: 'TESTBED_TOKEN', value: VALUE }, 'one trailing newline is not part of it');

  const json = await gw.cli(['secret', 'ls', 'testbed', '--json']);
  t.same(JSON.parse(json.stdout), { secrets: [{ name: 'TESTBED_TOKEN', set: true, declared: true }] });
  for (const args of [['ls', '--json'], ['secret', 'ls', 'testbed', '--json'], ['logs', 'testbed']]) {
    t.notMatch((await gw.cli(args)).stdout, VALUE, `not in rustless ${args.join(' ')}`);
  }
  t.notMatch(gw.output.join('\n'), VALUE, "not in the gateway's output");
  t.notOk((await readFile(join(gw.stateDir, 'rustless.db'))).includes(VALUE), 'not in the registry');

  const stored = join(gw.stateDir, 'secrets', 'testbed');
  t.equal((await stat(join(gw.stateDir, 'secrets'))).mode & 0o777, 0o700);
  t.equal((await stat(join(stored, 'TESTBED_TOKEN'))).mode & 0o777, 0o600, 'the stored copy is for its owner only');
  const delivered = join(gw.stateDir, 'run', 'secrets', 'testbed');
  t.equal((await stat(delivered)).mode & 0o777, 0o500);
  t.equal((await stat(join(delivered, 'TESTBED_TOKEN'))).mode & 0o777, 0o400, "the runner's copy is read-only, for the runner only");
});

t.test('setting a secret restarts the runner without losing a request', async (t) => {
  t.equal((await gw.get('/version')).status, 200);
  const before = (await gw.app('testbed')).runtime.pid;
  const load = Promise.all(Array.from({ length: 200 }, (_, i) => gw.get(`/config/env/GREETING?i=${i}`)));
  const set = gw.cli(['secret', 'set', 'testbed', 'TESTBED_TOKEN'], { input: 'rotated' });
  const replies = await load;
  t.equal((await set).exitCode, 0);
  t.same(replies.filter((r) => r.status !== 200).map((r) => r.text), [], 'no request failed');
  t.same((await gw.get('/config/secret/TESTBED_TOKEN')).body.value, 'rotated');
  t.not((await gw.app('testbed')).runtime.pid, before, 'a new runner sees the new value');
});

t.test('removing a secret; bad names and unknown apps are refused with what was wrong', async (t) => {
  t.equal((await gw.cli(['secret', 'rm', 'testbed', 'TESTBED_TOKEN'])).exitCode, 0);
  t.equal((await gw.get('/config/secret/TESTBED_TOKEN')).body.error.code, 'SECRET_NOT_SET');
  const again = await gw.cli(['secret', 'rm', 'testbed', 'TESTBED_TOKEN']);
  t.not(again.exitCode, 0);
  t.match(again.stderr, /app testbed has no secret TESTBED_TOKEN/);
  const bad = await gw.cli(['secret', 'set', 'testbed', '../../etc/passwd'], { input: 'x' });
  t.not(bad.exitCode, 0);
  t.match(bad.stderr, /a secret's name is upper-case letters.*got "\.\.\/\.\.\/etc\/passwd"/);
  const empty = await gw.cli(['secret', 'set', 'testbed', 'EMPTY'], { input: '' });
  t.match(empty.stderr, /secret EMPTY is empty/);
  const unknown = await gw.cli(['secret', 'set', 'nosuchapp', 'X'], { input: 'x' });
  t.not(unknown.exitCode, 0);
  t.match(unknown.stderr, /nosuchapp/);
  t.same(await readdir(join(gw.stateDir, 'secrets')), ['testbed'], 'nothing was written for a refused secret');
});

t.test('the todo list survives idle stops, redeploys and an rm that keeps the data', async (t) => {
  t.equal((await gw.deploy(join(EXAMPLES, 'todo'))).exitCode, 0);
  const created = await gw.send('POST', '/todos', { title: 'water the plants' });
  t.equal(created.status, 201);

  t.equal((await gw.cli(['stop', 'todo'])).exitCode, 0, 'stopped the way an idle app is');
  t.equal((await gw.app('todo')).runtime.state, 'stopped');
  t.same((await gw.get('/todos')).body, [created.body], 'there after a cold start');

  t.equal((await gw.deploy(join(EXAMPLES, 'todo'))).exitCode, 0);
  t.same((await gw.get('/todos')).body, [created.body], 'there after a redeploy');

  const refused = await gw.cli(['rm', 'todo']);
  t.not(refused.exitCode, 0, 'rm of an app with data needs to be told what to do with it');
  t.match(refused.stderr, /--keep-data or --delete-data/);
  t.equal((await gw.get('/todos')).status, 200, 'and the app is still there');

  const dir = (await gw.app('todo')).dataDir as string;
  t.equal((await gw.cli(['rm', 'todo', '--keep-data'])).exitCode, 0);
  t.ok(existsSync(join(dir, 'todos.json')), 'kept');
  t.equal((await gw.deploy(join(EXAMPLES, 'todo'))).exitCode, 0);
  t.same((await gw.get('/todos')).body, [created.body], 'a new deploy of the app finds its data');

  t.equal((await gw.cli(['rm', 'todo', '--delete-data'])).exitCode, 0);
  t.notOk(existsSync(dir), 'deleted when told');
});
