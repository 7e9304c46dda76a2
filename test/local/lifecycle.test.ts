// Cold starts, idle stops and bursts on the local backend, through a real gateway.
import t from 'tap';
import { join } from 'node:path';
import { EXAMPLES, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

function hello(): Promise<{ status: string; runtime: { state: string; pid?: number }; stats: { coldStarts: number; requests: number } }> {
  return gw.app('hello');
}

t.before(async () => {
  gw = await startGateway({ idleTimeoutS: 2 });
  const result = await gw.deploy(join(EXAMPLES, 'hello'));
  if (result.exitCode !== 0) throw new Error(result.stderr);
});
t.teardown(() => gw.stop());

t.test('a deployed app does not run until its first request', async (t) => {
  const app = await hello();
  t.equal(app.runtime.state, 'stopped');
  t.equal(app.status, 'ready');
});

t.test('the first request cold-starts the runner, an idle app is stopped, the next request starts it again', async (t) => {
  t.equal((await gw.get('/hello/one')).status, 200);
  const running = await hello();
  t.equal(running.runtime.state, 'running');
  t.equal(running.stats.coldStarts, 1);
  const firstPid = running.runtime.pid;

  await eventually(async () => (await hello()).runtime.state === 'stopped', 8_000, 'the idle app to stop');
  t.equal((await hello()).status, 'stopped');

  t.equal((await gw.get('/hello/two')).status, 200);
  const again = await hello();
  t.equal(again.runtime.state, 'running');
  t.equal(again.stats.coldStarts, 2);
  t.not(again.runtime.pid, firstPid, 'a new runner process');
});

t.test('50 concurrent requests to a stopped app all succeed', async (t) => {
  await gw.cli(['stop', 'hello']);
  t.equal((await hello()).runtime.state, 'stopped');
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => gw.get(`/hello/n${i}`)));
  t.same(replies.map((r) => r.status), Array(50).fill(200));
  t.same(replies.map((r) => r.body.message), Array.from({ length: 50 }, (_, i) => `hello n${i}`));
});

t.test('requests arriving while the app stops are all served', async (t) => {
  t.equal((await gw.get('/hello/warm')).status, 200);
  const stopping = gw.cli(['stop', 'hello']);
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => gw.get(`/hello/s${i}`)));
  await stopping;
  t.same(replies.map((r) => r.status), Array(20).fill(200));
});
