// The HTTP contract end to end through a real gateway on the local backend: real cargo builds
// of the example apps, real runner processes on real unix sockets.
import t from 'tap';
import { connect } from 'node:net';
import { join } from 'node:path';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

t.before(async () => {
  gw = await startGateway();
  for (const app of ['hello', 'echo', 'todo', 'testbed']) {
    const result = await gw.deploy(join(EXAMPLES, app));
    if (result.exitCode !== 0) throw new Error(`deploying ${app} failed:\n${result.stderr}`);
  }
});
t.teardown(() => gw.stop());

t.test('route params and query reach the function', async (t) => {
  const byParam = await gw.get('/hello/bob');
  t.equal(byParam.status, 200);
  t.same(byParam.body, { message: 'hello bob' });
  t.match(byParam.headers['content-type'], /application\/json/);
  const encoded = await gw.get('/hello/b%C3%B6b%20x');
  t.same(encoded.body, { message: 'hello böb x' });
  const byQuery = await gw.get('/hello?name=pi%20zero');
  t.same(byQuery.body, { message: 'hello pi zero' });
  const byDefault = await gw.get('/hello');
  t.same(byDefault.body, { message: 'hello world' });
});

t.test('JSON echo answers the body back with 201', async (t) => {
  const body = { a: 1, nested: { list: [1, 'two', null] }, text: 'ünïcode' };
  const posted = await gw.send('POST', '/echo', body);
  t.equal(posted.status, 201);
  t.same(posted.body, body);
  const put = await gw.send('PUT', '/echo', [1, 2]);
  t.equal(put.status, 201);
  t.same(put.body, [1, 2]);
  const rest = await gw.send('DELETE', '/echo/a/b/c?x=1');
  t.equal(rest.status, 200);
  t.match(rest.body, { method: 'DELETE', rest: 'a/b/c', query: { x: '1' } });
});

t.test('the to-do app shows each status code', async (t) => {
  const created = await gw.send('POST', '/todos', { title: 'water the pi' });
  t.equal(created.status, 201);
  t.equal(created.body.title, 'water the pi');
  const id = created.body.id;
  t.equal((await gw.get(`/todos/${id}`)).status, 200);
  t.equal((await gw.get('/todos')).status, 200);
  const wrongShape = await gw.send('POST', '/todos', { name: 'no title' });
  t.equal(wrongShape.status, 422);
  t.equal(typeof wrongShape.body.error.code, 'string');
  const updated = await gw.send('PUT', `/todos/${id}`, { title: 'water the pi twice' });
  t.equal(updated.status, 200);
  t.equal(updated.body.title, 'water the pi twice');
  t.equal((await gw.send('DELETE', `/todos/${id}`)).status, 204);
  const missing = await gw.get(`/todos/${id}`);
  t.equal(missing.status, 404);
  t.match(missing.body, { error: { code: String, message: String } });
});

t.test('no route answers 404 and a wrong method 405 with allow, in the JSON error shape', async (t) => {
  const notFound = await gw.get('/nothing/here');
  t.equal(notFound.status, 404);
  t.equal(notFound.body.error.code, 'RUSTLESS_NOT_FOUND');
  const wrongMethod = await gw.send('DELETE', '/hello/bob');
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.allow, 'GET');
  t.equal(wrongMethod.body.error.code, 'RUSTLESS_METHOD_NOT_ALLOWED');
});

t.test('bodies: invalid JSON 400, not JSON 415, too large 413', async (t) => {
  const invalid = await gw.send('POST', '/echo', '{"a":', { 'content-type': 'application/json' });
  t.equal(invalid.status, 400);
  t.equal(invalid.body.error.code, 'RUSTLESS_INVALID_JSON');
  const form = await gw.send('POST', '/echo', 'a=1', { 'content-type': 'application/x-www-form-urlencoded' });
  t.equal(form.status, 415);
  t.equal(form.body.error.code, 'RUSTLESS_UNSUPPORTED_MEDIA_TYPE');
  const huge = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
  const tooLarge = await gw.send('POST', '/echo', huge, { 'content-type': 'application/json' });
  t.equal(tooLarge.status, 413);
  t.equal(tooLarge.body.error.code, 'RUSTLESS_PAYLOAD_TOO_LARGE');
  t.equal((await gw.send('POST', '/echo', { after: 'the big one' })).status, 201, 'the gateway still serves');
});

t.test('a panic answers 500 for that request only', async (t) => {
  const panic = await gw.get('/panic');
  t.equal(panic.status, 500);
  t.equal(panic.body.error.code, 'RUSTLESS_FUNCTION_PANIC');
  t.equal((await gw.get('/version')).status, 200, 'the next request is served');
});

t.test('a request past its route timeout answers 504', async (t) => {
  const slow = await gw.get('/slow?ms=6000');
  t.equal(slow.status, 504);
  t.equal(slow.body.error.code, 'RUSTLESS_TIMEOUT');
  t.equal((await gw.get('/slow?ms=10')).status, 200);
});

t.test('a runner that aborts mid-request gives one 502, then service resumes', async (t) => {
  const aborted = await gw.get('/abort');
  t.equal(aborted.status, 502);
  t.equal(aborted.body.error.code, 'RUSTLESS_RUNNER_DIED');
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

t.test('a malformed HTTP request gets a 400 JSON error', async (t) => {
  const { port } = new URL(gw.url);
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.write('THIS IS NOT HTTP\r\n\r\n');
  });
  t.match(raw, /^HTTP\/1\.1 400/);
  t.match(raw, /"code":"RUSTLESS_BAD_REQUEST"/);
});
