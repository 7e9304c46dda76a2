// The forwarding rules of the public edge, against a runner stand-in on a real unix socket that
// speaks the frame protocol (docs/runner-protocol.md) and misbehaves on purpose: the real runner
// no longer sends a response the gateway cannot read, nor closes a frame connection while it
// lives, so only a stand-in can show what such a runner costs the other requests in flight.
import t from 'tap';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { STARTED, type Backend, type RunnerExit } from '../../../src/backends/backend.js';
import { AppLifecycle } from '../../../src/gateway/app-lifecycle.js';
import { createPublicHandler } from '../../../src/gateway/public-handler.js';
import { RunnerClients } from '../../../src/gateway/upstream/runner-clients.js';
import { RouteTable } from '../../../src/router/route-table.js';

const dir = await mkdtemp(join(tmpdir(), 'rustless-edge-'));
const socketPath = join(dir, 'runner.sock');
const hungUp = new Set<string>();

const PREFACE = '\0rustless-frames/1\n';
let connections = 0;

/**
 * Answers `/slow` after 300 ms, `/broken` with a control byte in a header, `/hangup*` by closing
 * the connection (once per path for GET, every time for `/hangup-always*`; `/hangup-slow*` then
 * answers after 300 ms), anything else at once.
 */
/** Connections to close after reading, without answering the preface (a start that failed while they waited). */
let closeUnanswered = 0;
const runner = createNetServer((socket: Socket) => {
  connections++;
  if (closeUnanswered > 0) {
    closeUnanswered--;
    socket.once('data', () => socket.destroy());
    return;
  }
  let pending = Buffer.alloc(0);
  let prefaced = false;
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (!prefaced) {
      if (pending.length < PREFACE.length) return;
      if (pending.subarray(0, PREFACE.length).toString('latin1') !== PREFACE) return void socket.destroy();
      prefaced = true;
      pending = pending.subarray(PREFACE.length);
      socket.write(PREFACE, 'latin1');
    }
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)) {
      const length = pending.readUInt32LE(0);
      const id = pending.readUInt32LE(4);
      const head = pending.subarray(12, 12 + pending.readUInt32LE(8)).toString('latin1');
      pending = pending.subarray(4 + length);
      const [method, path] = head.split('\n')[0]!.split(' ');
      answer(socket, id, method!, path!);
    }
  });
  socket.on('error', () => {});
});

function frame(id: number, status: number, head: string, body: string): Buffer {
  const out = Buffer.alloc(14 + Buffer.byteLength(head, 'latin1') + Buffer.byteLength(body));
  out.writeUInt32LE(out.length - 4, 0);
  out.writeUInt32LE(id, 4);
  out.writeUInt16LE(status, 8);
  out.writeUInt32LE(Buffer.byteLength(head, 'latin1'), 10);
  out.write(head, 14, 'latin1');
  out.write(body, 14 + Buffer.byteLength(head, 'latin1'));
  return out;
}

function answer(socket: Socket, id: number, method: string, path: string): void {
  const ok = frame(id, 200, 'content-type: application/json\n', JSON.stringify({ path }));
  if (path.startsWith('/slow')) setTimeout(() => socket.write(ok), 300);
  else if (path.startsWith('/hangup-slow') && hungUp.has(path)) setTimeout(() => socket.write(ok), 300);
  else if (path === '/broken') socket.write(frame(id, 200, 'x-bad: a\u0001b\n', '{}'));
  else if (path === '/no-colon') socket.write(frame(id, 200, 'x-no-colon', '{}'));
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
  activate: async () => ({ socketPath, started: STARTED }),
  stop: async () => {},
  runnerExit: async () => exits.shift(),
} as Partial<Backend> as Backend;

const silentBackend = { ...backend, runnerExit: undefined } as Backend;

const routes = RouteTable.from([{ app: 'app', function: 'F', path: '/*rest', methods: ['*'], timeoutMs: 5_000, maxBodyBytes: 1024 }]);
const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 60_000 });
const clients = new RunnerClients();
const handler = createPublicHandler({ routes: () => routes, lifecycle, clients });
const edge: Server = createHttpServer(handler);
await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(edge.address() as { port: number }).port}`;
// The same edge over a backend that cannot say whether its runner died.
const silentLifecycle = new AppLifecycle({ backend: silentBackend, defaultIdleTimeoutMs: 60_000 });
const silentClients = new RunnerClients();
const silentHandler = createPublicHandler({ routes: () => routes, lifecycle: silentLifecycle, clients: silentClients });
const silentEdge: Server = createHttpServer(silentHandler);
await new Promise<void>((resolve) => silentEdge.listen(0, '127.0.0.1', resolve));
const silentBase = `http://127.0.0.1:${(silentEdge.address() as { port: number }).port}`;

t.teardown(async () => {
  lifecycle.close();
  silentLifecycle.close();
  await new Promise((resolve) => edge.close(resolve));
  await new Promise((resolve) => silentEdge.close(resolve));
  await clients.close();
  await silentClients.close();
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

t.test('answers come back in the order they finish, on one connection', async (t) => {
  const before = connections;
  const order: string[] = [];
  const slow = send('GET', '/slow/first').then((reply) => (order.push('slow'), reply));
  await new Promise((r) => setTimeout(r, 50));
  const fast = await Promise.all([send('GET', '/a'), send('POST', '/b', { x: 1 }), send('GET', '/c')]).then((replies) => (order.push('fast'), replies));
  t.same(fast.map((reply) => reply.body.path), ['/a', '/b', '/c']);
  t.equal((await slow).status, 200);
  t.same(order, ['fast', 'slow'], 'the slow answer held up none of the others');
  t.ok(connections - before <= 1, `one connection carried them all (opened ${connections - before})`);
});

t.test('a response the gateway cannot read fails that request alone', async (t) => {
  const slow = [send('GET', '/slow/1'), send('GET', '/slow/2'), send('POST', '/slow/3', {})];
  await new Promise((r) => setTimeout(r, 100));
  const broken = await send('GET', '/broken');
  t.equal(broken.status, 502);
  t.equal(broken.body.error.code, 'RUSTLESS_RUNNER_FAILED');
  t.same(
    (await Promise.all(slow)).map((reply) => reply.status),
    [200, 200, 200],
    'the requests in flight beside it are untouched',
  );
  t.equal((await send('GET', '/slow/after')).status, 200, 'and the next one is served');
  const noColon = await send('GET', '/no-colon');
  t.equal(noColon.status, 502, 'a head line without a colon (and no newline) fails that request, and hangs nothing');
  t.equal(noColon.body.error.code, 'RUSTLESS_RUNNER_FAILED');
});

// One frame connection carries every request, so a runner that closes it (the real one never
// does while it lives) breaks every request on it: each follows the rules for itself.
t.test('a connection that breaks while the runner lives: an idempotent request is sent again, another fails alone', async (t) => {
  const slow = send('GET', '/slow/beside');
  await new Promise((r) => setTimeout(r, 50));
  t.equal((await send('GET', '/hangup/get')).status, 200, 'GET retried once on a new connection');
  t.equal((await slow).status, 200, 'the GET in flight beside it was retried too');
  const post = await send('POST', '/hangup/post', {});
  t.equal(post.status, 502);
  t.equal(post.body.error.code, 'RUSTLESS_RUNNER_FAILED', 'not RUNNER_DIED: the backend says the runner lives');
});

t.test('a connection closed before the runner answered its preface: even a POST was never seen, and is sent again', async (t) => {
  clients.drop('app');
  closeUnanswered = 1;
  const before = connections;
  const post = await send('POST', '/after-failed-start', {});
  t.equal(post.status, 200, 'answered on the next connection');
  t.same(post.body, { path: '/after-failed-start' });
  t.equal(connections - before, 2, 'the closed connection, then a new one');
});

t.test('a request past its deadline answers 504 and leaves the connection and the others alone', async (t) => {
  const short = RouteTable.from([{ app: 'app', function: 'F', path: '/*rest', methods: ['*'], timeoutMs: 100, maxBodyBytes: 1024 }]);
  const quick = createPublicHandler({ routes: () => short, lifecycle, clients });
  const server: Server = createHttpServer(quick);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await (await request(`${url}/fine/before`)).body.dump();
  const before = connections;
  const timedOut = request(`${url}/slow/late`);
  const other = await request(`${url}/fine`);
  t.equal(other.statusCode, 200);
  await other.body.dump();
  const late = await timedOut;
  t.equal(late.statusCode, 504);
  t.equal(((await late.body.json()) as any).error.code, 'RUSTLESS_TIMEOUT');
  await new Promise((r) => setTimeout(r, 300));
  const after = await request(`${url}/fine/after`);
  t.equal(after.statusCode, 200, 'the late answer was dropped and the connection serves on');
  await after.body.dump();
  t.equal(connections, before, 'no new connection was needed');
});

t.test('a retry that times out says how the runner died under the first send', async (t) => {
  const short = RouteTable.from([{ app: 'app', function: 'F', path: '/*rest', methods: ['*'], timeoutMs: 200, maxBodyBytes: 1024 }]);
  const server: Server = createHttpServer(createPublicHandler({ routes: () => short, lifecycle, clients }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  exits.push({ reason: 'it was killed by SIGKILL', oomKilled: true, memoryLimit: '128M' });
  const reply = await send('GET', '/hangup-slow/oom', undefined, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
  t.equal(reply.status, 504);
  t.same(reply.body.error, {
    code: 'RUSTLESS_TIMEOUT',
    message:
      'F in app app did not answer within 200 ms; its runner died under it first (it was killed by SIGKILL (out of memory: the limit is 128M)), ' +
      'and the request, sent again alone to a new runner, had not been answered',
  });
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

t.test('a runner from before frames (it answers the preface with HTTP) fails with a message that says what to do', async (t) => {
  const oldPath = join(dir, 'old.sock');
  const old = createNetServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => old.listen(oldPath, resolve));
  const oldBackend = { kind: 'local', activate: async () => ({ socketPath: oldPath, started: STARTED }), stop: async () => {}, runnerExit: async () => undefined } as Partial<Backend> as Backend;
  const oldLifecycle = new AppLifecycle({ backend: oldBackend, defaultIdleTimeoutMs: 60_000 });
  const oldClients = new RunnerClients();
  const server: Server = createHttpServer(createPublicHandler({ routes: () => routes, lifecycle: oldLifecycle, clients: oldClients }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    oldLifecycle.close();
    await new Promise((resolve) => server.close(resolve));
    await oldClients.close();
    await new Promise((resolve) => old.close(resolve));
  });
  const response = await request(`http://127.0.0.1:${(server.address() as { port: number }).port}/any`);
  t.equal(response.statusCode, 502);
  const body = (await response.body.json()) as any;
  t.equal(body.error.code, 'RUSTLESS_RUNNER_FAILED');
  t.match(body.error.message, /built by an older rust-less, deploy the app again/);
});
