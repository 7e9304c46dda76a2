// The HTTP contract end to end through a real gateway on the local backend: real cargo builds
// of the example apps, real runner processes on real unix sockets. The cases shared with the
// standalone runner are in test/helpers/http-contract.ts.
import t from 'tap';
import { join } from 'node:path';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { contractCases } from '../helpers/http-contract.js';

let gw: TestGateway;

t.before(async () => {
  gw = await startGateway();
  for (const app of ['hello', 'echo', 'todo', 'testbed']) {
    const result = await gw.deploy(join(EXAMPLES, app));
    if (result.exitCode !== 0) throw new Error(`deploying ${app} failed:\n${result.stderr}`);
  }
});
t.teardown(() => gw.stop());

contractCases(t, {
  get: (path, headers) => gw.get(path, headers),
  send: (...args) => gw.send(...args),
  tcp: () => ({ host: '127.0.0.1', port: Number(new URL(gw.url).port) }),
});

// Only the gateway can survive its runner dying mid-request: these stay here.
t.test('a runner that aborts mid-request gives one 502, then service resumes', async (t) => {
  const aborted = await gw.get('/abort');
  t.equal(aborted.status, 502);
  t.equal(aborted.body.error.code, 'RUSTLESS_RUNNER_FAILED');
  t.equal((await gw.get('/version')).status, 200);
});

t.test('a killed runner gives at most one error, then service resumes', async (t) => {
  t.equal((await gw.get('/hello/a')).status, 200);
  const { stdout } = await gw.cli(['ls', '--json']);
  const hello = JSON.parse(stdout).find((app: { name: string }) => app.name === 'hello');
  t.ok(hello.runtime.pid, 'the runner has a pid');
  process.kill(hello.runtime.pid, 'SIGKILL');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await gw.get('/hello/b')).status);
  t.ok(statuses.filter((s) => s !== 200).length <= 1, `at most one failure, got ${statuses.join(',')}`);
  t.equal(statuses.at(-1), 200);
});
