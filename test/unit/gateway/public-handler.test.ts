// The forwarding rules of the public edge, against a runner stand-in on a real unix socket that
// misbehaves on purpose: the real runner no longer sends a response the gateway cannot read, so
// only a stand-in can show what one such response costs the other requests in flight.
import t from 'tap';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { Backend, RunnerExit } from '../../../src/backends/backend.js';
import { AppLifecycle } from '../../../src/gateway/app-lifecycle.js';
import { createPublicHandler } from '../../../src/gateway/public-handler.js';
import { RunnerPools } from '../../../src/gateway/runner-pools.js';
import { RouteTable } from '../../../src/router/route-table.js';

const dir = await mkdtemp(join(tmpdir(), 'rustless-edge-'));
const socketPath = join(dir, 'runner.sock');
const hungUp = new Set<string>();

/**
 * Answers `/slow` after 300 ms, `/broken` with a control byte in a header, `/hangup*` by closing
 * the connection (once per path for GET, every time for `/hangup-always*`).
 */
const runner = createNetServer((socket: Socket) => {
  let pending = '';
  socket.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
      const head = pending.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      pending = pending.slice(end + 4 + length);
      const [method, path] = head.split(' ');
      answer(socket, method!, path!);
    }
  });
  socket.on('error', () => {});
});

function answer(socket: Socket, method: string, path: string): void {
  const ok = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}';
  if (path.startsWith('/slow')) setTimeout(() => socket.write(ok), 300);
  else if (path === '/broken') socket.write('HTTP/1.1 200 OK\r\nx-bad: a\u0001b\r\ncontent-length: 2\r\n\r\n{}');
  else if (path.startsWith('/hangup') && (method !== 'GET' || !hungUp.has(path) || path.startsWith('/hangup-always'))) {
    hungUp.add(path);
    socket.destroy();
  } else socket.write(ok);
}

await new Promise<void>((resolve) => runner.listen(socketPath, resolve));

const exits: Array<RunnerExit | undefined> = [];
/** The smallest backend the edge needs: the stand-in is always up, and never died. */
const backend = {
  kind: 'local',
  activate: async () => socketPath,
  stop: async () => {},
  runnerExit: async () => exits.shift(),
} as Partial<Backend> as Backend;

const silentBackend = { ...backend, runnerExit: undefined } as Backend;

const routes = RouteTable.from([{ app: 'app', function: 'F', path: '/*rest', methods: ['*'], timeoutMs: 5_000, maxBodyBytes: 1024 }]);
const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 60_000 });
const pools = new RunnerPools();
const handler = createPublicHandler({ routes: () => routes, lifecycle, pools });
const edge: Server = createHttpServer((req, res) => void handler(req, res));
await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(edge.address() as { port: number }).port}`;
// The same edge over a backend that cannot say whether its runner died.
const silentLifecycle = new AppLifecycle({ backend: silentBackend, defaultIdleTimeoutMs: 60_000 });
const silentPools = new RunnerPools();
const silentHandler = createPublicHandler({ routes: () => routes, lifecycle: silentLifecycle, pools: silentPools });
const silentEdge: Server = createHttpServer((req, res) => void silentHandler(req, res));
await new Promise<void>((resolve) => silentEdge.listen(0, '127.0.0.1', resolve));
const silentBase = `http://127.0.0.1:${(silentEdge.address() as { port: number }).port}`;

t.teardown(async () => {
  lifecycle.close();
  silentLifecycle.close();
  await new Promise((resolve) => edge.close(resolve));
  await new Promise((resolve) => silentEdge.close(resolve));
  await pools.close();
  await silentPools.close();
  await new Promise((resolve) => runner.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function send(method: string, path: string, body?: unknown, via = base): Promise<{ status: number; body: any }> {
  const response = await request(`${via}${path}`, {
    method: method as 'GET',
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.statusCode, body: await response.body.json() };
}

t.test('a response the gateway cannot read fails that request alone', async (t) => {
  const slow = [send('GET', '/slow/1'), send('GET', '/slow/2'), send('POST', '/slow/3', {})];
  await new Promise((r) => setTimeout(r, 100));
  const broken = await send('GET', '/broken');
  t.equal(broken.status, 502);
  t.equal(broken.body.error.code, 'RUSTLESS_RUNNER_FAILED');
  t.same(
    (await Promise.all(slow)).map((reply) => reply.status),
    [200, 200, 200],
    'the requests in flight on other connections are untouched',
  );
  t.equal((await send('GET', '/slow/after')).status, 200, 'and the next one is served');
});

t.test('a connection that breaks while the runner lives: an idempotent request is sent again, another fails alone', async (t) => {
  const slow = send('GET', '/slow/beside');
  await new Promise((r) => setTimeout(r, 50));
  t.equal((await send('GET', '/hangup/get')).status, 200, 'GET retried once on a new connection');
  const post = await send('POST', '/hangup/post', {});
  t.equal(post.status, 502);
  t.equal(post.body.error.code, 'RUSTLESS_RUNNER_FAILED', 'not RUNNER_DIED: the backend says the runner lives');
  t.equal((await slow).status, 200);
});

t.test('a connection that breaks because the runner died names the cause and its memory limit', async (t) => {
  exits.push({ reason: 'it was killed by SIGKILL', oomKilled: true, memoryLimit: '64M' });
  const post = await send('POST', '/hangup/oom', {});
  t.equal(post.status, 502);
  t.same(post.body.error, {
    code: 'RUSTLESS_RUNNER_DIED',
    message:
      'the runner of app app died while answering POST /hangup/oom: it was killed by SIGKILL (out of memory: the limit is 64M); ' +
      'POST is not idempotent, so it was not retried (its function may have run)',
    app: 'app',
    reason: 'it was killed by SIGKILL',
    oomKilled: true,
    memoryLimit: '64M',
  });
});

t.test('a request that dies again when retried alone fails with RUSTLESS_RUNNER_DIED; blamed only when the backend saw the runner end', async (t) => {
  exits.push({ reason: 'it was killed by SIGABRT' }, { reason: 'it was killed by SIGABRT' });
  const blamed = await send('GET', '/hangup-always/1');
  t.equal(blamed.status, 502);
  t.match(blamed.body.error, {
    code: 'RUSTLESS_RUNNER_DIED',
    message: 'the runner of app app died while answering GET /hangup-always/1: it was killed by SIGABRT; it died again when the request was retried alone, so this request is the likely cause',
  });
  const unknown = await send('GET', '/hangup-always/2', undefined, silentBase);
  t.equal(unknown.status, 502);
  t.match(unknown.body.error, {
    code: 'RUSTLESS_RUNNER_DIED',
    message: 'the runner of app app died while answering GET /hangup-always/2: the connection to it broke mid-request (the local backend cannot tell why); it failed again when the request was retried alone',
  });
  t.equal((await send('GET', '/slow/after', undefined, silentBase)).status, 200, 'and the next request is served');
});
