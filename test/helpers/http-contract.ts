/**
 * The HTTP contract every public edge of rust-less keeps, as tap subtests: the gateway in front
 * of runners (test/local/http-contract.test.ts) and a runner standing alone on TCP, as Knative
 * or a Deployment runs it (test/local/standalone-runner.test.ts). Both call these same cases
 * against the example apps hello, echo, todo and testbed.
 */
import type { Test } from 'tap';
import { connect } from 'node:net';
import type { Reply } from './gateway.js';

export interface ContractTarget {
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  send(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** Host and port of the TCP listener that answers `path`, for raw bytes (asked once the target is up). */
  tcp(path: string): { host: string; port: number };
}

export function contractCases(t: Test, target: ContractTarget): void {
  t.test('route params and query reach the function', async (t) => {
    const byParam = await target.get('/hello/bob');
    t.equal(byParam.status, 200);
    t.same(byParam.body, { message: 'hello bob' });
    t.match(byParam.headers['content-type'], /application\/json/);
    const encoded = await target.get('/hello/b%C3%B6b%20x');
    t.same(encoded.body, { message: 'hello böb x' });
    const byQuery = await target.get('/hello?name=pi%20zero');
    t.same(byQuery.body, { message: 'hello pi zero' });
    const byDefault = await target.get('/hello');
    t.same(byDefault.body, { message: 'hello world' });
  });

  t.test('JSON echo answers the body back with 201', async (t) => {
    const body = { a: 1, nested: { list: [1, 'two', null] }, text: 'ünïcode' };
    const posted = await target.send('POST', '/echo', body);
    t.equal(posted.status, 201);
    t.same(posted.body, body);
    const put = await target.send('PUT', '/echo', [1, 2]);
    t.equal(put.status, 201);
    t.same(put.body, [1, 2]);
    const rest = await target.send('DELETE', '/echo/a/b/c?x=1');
    t.equal(rest.status, 200);
    t.match(rest.body, { method: 'DELETE', rest: 'a/b/c', query: { x: '1' } });
  });

  t.test('the to-do app shows each status code', async (t) => {
    const created = await target.send('POST', '/todos', { title: 'water the pi' });
    t.equal(created.status, 201);
    t.equal(created.body.title, 'water the pi');
    const id = created.body.id;
    t.equal((await target.get(`/todos/${id}`)).status, 200);
    t.equal((await target.get('/todos')).status, 200);
    const wrongShape = await target.send('POST', '/todos', { name: 'no title' });
    t.equal(wrongShape.status, 422);
    t.equal(typeof wrongShape.body.error.code, 'string');
    const updated = await target.send('PUT', `/todos/${id}`, { title: 'water the pi twice' });
    t.equal(updated.status, 200);
    t.equal(updated.body.title, 'water the pi twice');
    t.equal((await target.send('DELETE', `/todos/${id}`)).status, 204);
    const missing = await target.get(`/todos/${id}`);
    t.equal(missing.status, 404);
    t.match(missing.body, { error: { code: String, message: String } });
  });

  t.test('no route answers 404 and a wrong method 405 with allow, in the JSON error shape', async (t) => {
    const notFound = await target.get('/nothing/here');
    t.equal(notFound.status, 404);
    t.equal(notFound.body.error.code, 'RUSTLESS_NOT_FOUND');
    const wrongMethod = await target.send('DELETE', '/hello/bob');
    t.equal(wrongMethod.status, 405);
    t.equal(wrongMethod.headers.allow, 'GET, HEAD', 'a GET route answers HEAD too');
    t.equal(wrongMethod.body.error.code, 'RUSTLESS_METHOD_NOT_ALLOWED');
  });

  t.test('bodies: invalid JSON 400, not JSON 415, too large 413', async (t) => {
    const invalid = await target.send('POST', '/echo', '{"a":', { 'content-type': 'application/json' });
    t.equal(invalid.status, 400);
    t.equal(invalid.body.error.code, 'RUSTLESS_INVALID_JSON');
    const form = await target.send('POST', '/echo', 'a=1', { 'content-type': 'application/x-www-form-urlencoded' });
    t.equal(form.status, 415);
    t.equal(form.body.error.code, 'RUSTLESS_UNSUPPORTED_MEDIA_TYPE');
    const huge = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const tooLarge = await target.send('POST', '/echo', huge, { 'content-type': 'application/json' });
    t.equal(tooLarge.status, 413);
    t.equal(tooLarge.body.error.code, 'RUSTLESS_PAYLOAD_TOO_LARGE');
    t.equal((await target.send('POST', '/echo', { after: 'the big one' })).status, 201, 'still serving');
  });

  t.test("bodies: a route's accept lets forms and other types through, byte for byte; none on GET", async (t) => {
    // Spacing, key order and escapes as a webhook sender signs them: the function gets these bytes.
    const exact = '{ "zen":"Keep it logically awesome.",  "b":1, "a":"\\u00e9" }\n';
    const json = await target.send('POST', '/inspect/json', exact, { 'content-type': 'application/json' });
    t.equal(json.status, 200);
    t.equal(json.body.raw, exact, 'raw_body is the body as sent, not re-serialized');
    t.same(json.body.body, { zen: 'Keep it logically awesome.', b: 1, a: 'é' });
    const formBody = 'payload=%7B%22zen%22%3A%22a+b%22%7D&x=1&x=2';
    const form = await target.send('POST', '/inspect-form/hook', formBody, { 'content-type': 'application/x-www-form-urlencoded' });
    t.equal(form.status, 200);
    t.equal(form.body.raw, formBody);
    t.same(form.body.form, { payload: '{"zen":"a b"}', x: '1' });
    t.equal(form.body.body, null, 'a form is not JSON');
    const text = await target.send('POST', '/inspect-form/hook', 'hi', { 'content-type': 'text/plain' });
    t.equal(text.status, 415);
    t.equal(text.body.error.code, 'RUSTLESS_UNSUPPORTED_MEDIA_TYPE');
    t.match(text.body.error.message, 'types this route accepts (application/json, application/x-www-form-urlencoded), got "text/plain"');
    const badJson = await target.send('POST', '/inspect-form/hook', '{"a":', { 'content-type': 'application/json' });
    t.equal(badJson.status, 400, 'a JSON body must still parse');
    const bytes = Buffer.from([0, 0xff, 0xfe, 0x0d, 0x0a, 0x41]);
    const binary = await target.send('PUT', '/inspect-any/blob', bytes, { 'content-type': 'application/octet-stream' });
    t.equal(binary.status, 200);
    t.equal(binary.body.raw_hex, bytes.toString('hex'));
    const untyped = await target.send('POST', '/inspect-any/blob', 'no type at all');
    t.equal(untyped.status, 200, '*/* takes a body without a content type');
    t.equal(untyped.body.raw, 'no type at all');
    const big = await target.send('POST', '/inspect-any/blob', 'x'.repeat(2 * 1024 * 1024), { 'content-type': 'text/plain' });
    t.equal(big.status, 413, 'max_body_bytes still holds');
    const onGet = await rawHttp(target.tcp('/inspect-any/x'), 'GET /inspect-any/x HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc');
    t.match(onGet, /^HTTP\/1\.1 400 /, 'no body on GET, whatever the route accepts');
    t.match(onGet, /RUSTLESS_BODY_NOT_ALLOWED/);
  });

  t.test('a panic answers 500 for that request only', async (t) => {
    const panic = await target.get('/panic');
    t.equal(panic.status, 500);
    t.equal(panic.body.error.code, 'RUSTLESS_FUNCTION_PANIC');
    t.equal((await target.get('/version')).status, 200, 'the next request is served');
  });

  t.test('a request past its route timeout answers 504', async (t) => {
    const slow = await target.get('/slow?ms=6000');
    t.equal(slow.status, 504);
    t.equal(slow.body.error.code, 'RUSTLESS_TIMEOUT');
    t.equal((await target.get('/slow?ms=10')).status, 200);
  });

  t.test('HEAD: a GET route answers it, with the content-length GET would have and no body', async (t) => {
    const get = await target.get('/hello/bob');
    const head = await target.send('HEAD', '/hello/bob');
    t.equal(head.status, 200);
    t.equal(head.text, '');
    t.equal(head.headers['content-length'], get.headers['content-length']);
    t.equal(head.headers['content-length'], String(Buffer.byteLength(get.text)));
    const raw = await rawHttp(target.tcp('/hello/bob'), 'HEAD /hello/bob HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    t.match(raw, new RegExp(`content-length: ${Buffer.byteLength(get.text)}\r\n`));
    t.ok(raw.endsWith('\r\n\r\n'), 'nothing after the head');
    const explicit = await target.send('HEAD', '/headers');
    t.equal(explicit.status, 200, 'a route for any method gets HEAD itself');
  });

  t.test('204 and 304 carry no content-length', async (t) => {
    for (const code of [204, 304]) {
      const raw = await rawHttp(target.tcp(`/status/${code}`), `GET /status/${code} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      t.match(raw, new RegExp(`^HTTP/1\\.1 ${code} `));
      t.notMatch(raw.toLowerCase(), /content-length/, `no content-length on ${code}`);
    }
    const ok = await target.get('/status/202');
    t.equal(ok.headers['content-length'], '0', 'other bodiless statuses say 0');
  });

  t.test('a malformed HTTP request gets a 400 JSON error', async (t) => {
    const raw = await rawHttp(target.tcp('/'), 'THIS IS NOT HTTP\r\n\r\n');
    t.match(raw, /^HTTP\/1\.1 400/);
    t.match(raw, /"code":"RUSTLESS_BAD_REQUEST"/);
  });
}

/** Sends raw bytes on a fresh connection (the body after a `100 Continue` when one is expected), returns all the answer. */
export function rawHttp({ host, port }: { host: string; port: number }, head: string, body?: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, host);
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
