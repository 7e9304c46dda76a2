// The HTTP contract end to end through a real gateway on the local backend: real cargo builds
// of the example apps, real runner processes on real unix sockets. The cases a runner standing
// alone keeps too are in test/helpers/http-contract.ts; the ones here are the gateway's own
// (a runner dying under it, Expect, the header log).
import t from 'tap';
import { execa } from 'execa';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { contractCases, rawHttp as rawHttpTo } from '../helpers/http-contract.js';

let gw: TestGateway;

t.before(async () => {
  // 127.0.0.2 plays a proxy in front (Caddy); the cases below connect from 127.0.0.1.
  gw = await startGateway({ args: ['--trust-proxy', '127.0.0.2'] });
  for (const app of ['hello', 'echo', 'todo', 'testbed']) {
    const result = await gw.deploy(join(EXAMPLES, app));
    if (result.exitCode !== 0) throw new Error(`deploying ${app} failed:\n${result.stderr}`);
  }
});
t.teardown(() => gw.stop());

const tcp = () => ({ host: '127.0.0.1', port: Number(new URL(gw.url).port) });
contractCases(t, { get: (path, headers) => gw.get(path, headers), send: (...args) => gw.send(...args), tcp });

t.test('x-forwarded-for: the peer, unless the peer is a trusted proxy; then the address that proxy saw', async (t) => {
  const headersFrom = (localAddress: string, forwardedFor: string) =>
    new Promise<Record<string, string>>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/headers`, { localAddress, headers: { 'x-forwarded-for': forwardedFor } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => resolve(JSON.parse(text).headers));
      });
      req.on('error', reject);
      req.end();
    });
  t.equal((await headersFrom('127.0.0.1', '6.6.6.6'))['x-forwarded-for'], '127.0.0.1', 'a client cannot name itself');
  t.equal((await headersFrom('127.0.0.2', '6.6.6.6, 198.51.100.4'))['x-forwarded-for'], '198.51.100.4', 'the proxy names the client');
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


/** Sends raw bytes to the gateway (see rawHttp in the shared cases). */
function rawHttp(head: string, body?: string): Promise<string> {
  return rawHttpTo(tcp(), head, body);
}
