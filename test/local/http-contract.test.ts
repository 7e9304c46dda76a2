// The HTTP contract end to end through a real gateway on the local backend: real cargo builds
// of the example apps, real runner processes on real unix sockets.
import t from 'tap';
import { connect } from 'node:net';
import { execa } from 'execa';
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
  t.equal(wrongMethod.headers.allow, 'GET, HEAD', 'a GET route answers HEAD too');
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

t.test('a runner that aborts on every try fails that request alone with RUSTLESS_RUNNER_DIED, then service resumes', async (t) => {
  const aborted = await gw.get('/abort');
  t.equal(aborted.status, 502);
  t.equal(aborted.body.error.code, 'RUSTLESS_RUNNER_DIED');
  t.match(aborted.body.error.message, /runner of app testbed died while answering GET \/abort: it was killed by SIGABRT; it died again when the request was retried alone/);
  t.equal(aborted.body.error.reason, 'it was killed by SIGABRT');
  t.equal((await gw.get('/version')).status, 200);
});

t.test('a killed runner fails no request: the next ones start it again', async (t) => {
  t.equal((await gw.get('/hello/a')).status, 200);
  const { stdout } = await gw.cli(['ls', '--json']);
  const hello = JSON.parse(stdout).find((app: { name: string }) => app.name === 'hello');
  t.ok(hello.runtime.pid, 'the runner has a pid');
  process.kill(hello.runtime.pid, 'SIGKILL');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await gw.get('/hello/b')).status);
  t.same(statuses, [200, 200, 200, 200, 200]);
});

t.test('requests in flight when another request aborts the runner: idempotent ones are retried, others fail with the cause', async (t) => {
  const get = gw.get('/slow?ms=1500');
  const put = gw.send('PUT', '/inspect/x', { put: true });
  const post = gw.send('POST', '/slow?ms=1500', {});
  await new Promise((r) => setTimeout(r, 400));
  const aborted = await gw.get('/abort');
  t.equal(aborted.body.error.code, 'RUSTLESS_RUNNER_DIED');
  t.equal((await get).status, 200, 'the GET in flight was retried on the restarted runner');
  t.equal((await put).status, 200, 'the PUT was retried (or had finished)');
  const died = await post;
  t.equal(died.status, 502, 'the POST in flight is not retried');
  t.equal(died.body.error.code, 'RUSTLESS_RUNNER_DIED');
  t.match(died.body.error.message, /died while answering POST \/slow: it was killed by SIGABRT; POST is not idempotent, so it was not retried/);
});

t.test('aborts interleaved with innocent requests on 4 connections: no innocent request fails', async (t) => {
  const innocent: Array<{ what: string; status: number; body: unknown }> = [];
  const aborts: number[] = [];
  const worker = async (index: number): Promise<void> => {
    for (let i = 0; i < 6; i++) {
      if (index === 0 && i % 2 === 0) {
        aborts.push((await gw.get('/abort')).status);
        continue;
      }
      const [method, path, body] = i % 3 === 0 ? ['PUT', '/inspect/p', { i }] : i % 3 === 1 ? ['GET', '/slow?ms=40', undefined] : ['GET', '/version', undefined];
      const reply = await gw.send(method!, path as string, body);
      innocent.push({ what: `${method} ${path}`, status: reply.status, body: reply.body });
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  t.same(aborts, [502, 502, 502]);
  t.same(
    innocent.filter((reply) => reply.status !== 200),
    [],
    'every innocent request answered 200',
  );
  t.equal(innocent.length, 21);
});

t.test('Expect: 100-continue works, is not forwarded, and fails no request in flight', async (t) => {
  const inFlight = [gw.get('/slow?ms=800'), gw.get('/slow?ms=800'), gw.send('PUT', '/echo', { other: 'client' })];
  await new Promise((r) => setTimeout(r, 200));
  const body = JSON.stringify({ blob: 'x'.repeat(2048) });
  const raw = await rawHttp(
    `POST /inspect/expect HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`,
    body,
  );
  t.match(raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/, 'the client gets 100 Continue, then the answer');
  const seen = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n{') + 4));
  t.equal(seen.body.blob.length, 2048);
  t.notOk('expect' in seen.headers, 'the runner never sees the expect header');
  const others = await Promise.all(inFlight);
  t.same(
    others.map((reply) => reply.status),
    [200, 200, 201],
    'the other requests in flight are untouched',
  );
});

t.test('curl sending a body with Expect: 100-continue gets the answer', async (t) => {
  const body = JSON.stringify({ blob: 'y'.repeat(2048) });
  // Older curl sends the header itself past 1 KiB, newer only past 1 MiB: ask for it.
  const args = ['-sS', '-v', '-X', 'PUT', '-H', 'content-type: application/json', '-H', 'expect: 100-continue', '--data-binary', body, `${gw.url}/inspect/curl`];
  const { stdout, stderr } = await execa('curl', args);
  t.match(stderr, /> expect: 100-continue/i, 'curl asked for 100-continue');
  t.match(stderr, /< HTTP\/1\.1 100 Continue/);
  t.match(stderr, /< HTTP\/1\.1 200 OK/);
  t.equal(JSON.parse(stdout).body.blob.length, 2048);
  t.notOk('expect' in JSON.parse(stdout).headers, 'the function never sees it');
});

t.test('HEAD: a GET route answers it, with the content-length GET would have and no body', async (t) => {
  const get = await gw.get('/hello/bob');
  const head = await gw.send('HEAD', '/hello/bob');
  t.equal(head.status, 200);
  t.equal(head.text, '');
  t.equal(head.headers['content-length'], get.headers['content-length']);
  t.equal(head.headers['content-length'], String(Buffer.byteLength(get.text)));
  const raw = await rawHttp('HEAD /hello/bob HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  t.match(raw, new RegExp(`content-length: ${Buffer.byteLength(get.text)}\r\n`));
  t.ok(raw.endsWith('\r\n\r\n'), 'nothing after the head');
  const explicit = await gw.send('HEAD', '/headers');
  t.equal(explicit.status, 200, 'a route for any method gets HEAD itself');
});

t.test('204 and 304 carry no content-length', async (t) => {
  for (const code of [204, 304]) {
    const raw = await rawHttp(`GET /status/${code} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    t.match(raw, new RegExp(`^HTTP/1\\.1 ${code} `));
    t.notMatch(raw.toLowerCase(), /content-length/, `no content-length on ${code}`);
  }
  const ok = await gw.get('/status/202');
  t.equal(ok.headers['content-length'], '0', 'other bodiless statuses say 0');
});

t.test('a header a function sets that is not valid HTTP is dropped by the runner, with a log line', async (t) => {
  const cases: Array<[string, string]> = [
    ['x-nul', 'a%00b'],
    ['x-ctl', 'a%01b'],
    ['x-del', 'a%7Fb'],
    ['x%20space', 'fine'],
    ['x%3Acolon', 'fine'],
    ['', 'no-name'],
  ];
  for (const [name, value] of cases) {
    const reply = await gw.get(`/set-header?name=${name}&value=${value}`);
    t.equal(reply.status, 200, `${name}: ${value} answers 200`);
    t.equal(reply.headers[decodeURIComponent(name).toLowerCase()], undefined, `${name} is not sent`);
  }
  const good = await gw.get('/set-header?name=X-Good&value=caf%C3%A9%09ok');
  t.equal(good.headers['x-good'], Buffer.from('café\tok').toString('latin1'), 'a valid header, obs-text included, goes through');
  const { stdout } = await gw.cli(['logs', 'testbed', '--lines', '200']);
  t.match(stdout, /dropped the header "x-ctl" set by SetHeader: its value holds a byte HTTP forbids \(0x01\)/);
  t.match(stdout, /dropped the header "x space" set by SetHeader: its name is not an HTTP token/);
});

/** Sends raw bytes on a fresh connection (the body after a `100 Continue` when one is expected), returns all the answer. */
function rawHttp(head: string, body?: string): Promise<string> {
  const { port } = new URL(gw.url);
  return new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    let sent = false;
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (body !== undefined && !sent && data.includes('100 Continue\r\n\r\n')) {
        sent = true;
        socket.write(body);
      }
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.write(head);
  });
}

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
