// The TCP admin listener of a real gateway process: the right bearer token works, a wrong or
// missing one gets 401 and nothing else; the AdminClient carries the token it was given.
import t from 'tap';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { AdminClient } from '../../../src/admin/admin-client.js';
import { findHost } from '../../../src/discovery/find-host.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

const TOKEN = 'right-token-0123456789abcdef0123';
let gw: TestGateway;
let dir: string;
let adminUrl: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rustless-token-'));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const port = await freePort();
  adminUrl = `http://127.0.0.1:${port}`;
  gw = await startGateway({ args: ['--admin-port', String(port), '--admin-token-file', tokenFile] });
});
t.teardown(async () => {
  await gw.stop();
  await rm(dir, { recursive: true, force: true });
});

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await request(`${adminUrl}${path}`, { headers });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

t.test('the right token works', async (t) => {
  const reply = await get('/v1/info', { authorization: `Bearer ${TOKEN}` });
  t.equal(reply.status, 200);
  t.match(JSON.parse(reply.text), { backend: 'local' });
});

t.test('the scheme is case-insensitive (RFC 9110 §11.1)', async (t) => {
  for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
    const reply = await get('/v1/info', { authorization: `${scheme} ${TOKEN}` });
    t.equal(reply.status, 200, `${scheme} works`);
  }
  t.equal((await get('/v1/info', { authorization: `bearer ${TOKEN.toUpperCase()}` })).status, 401, 'the token itself is not');
});

t.test('a wrong or missing token gets 401 and nothing else', async (t) => {
  for (const [what, headers] of [
    ['missing', {}],
    ['wrong', { authorization: 'Bearer wrong-token-0123456789abcdef012' }],
    ['not bearer', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
    ['a prefix of the right one', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ] as const) {
    for (const path of ['/v1/info', '/v1/apps', '/v1/apps/hello', '/v1/no-such-endpoint']) {
      const reply = await get(path, headers);
      t.equal(reply.status, 401, `${what} token on ${path}: 401`);
      t.same(JSON.parse(reply.text), { error: { code: 'RUSTLESS_UNAUTHORIZED', message: 'missing or wrong bearer token' } }, `${what} token on ${path}: only the error`);
    }
  }
  const upload = await request(`${adminUrl}/v1/builds`, { method: 'POST', body: Buffer.alloc(1024), headers: { 'content-type': 'application/gzip' } });
  t.equal(upload.statusCode, 401, 'an upload without a token is refused');
  await upload.body.dump();
});

t.test('the admin client sends the token findHost found', async (t) => {
  const { host } = await findHost({ host: adminUrl, env: { HOME: dir, RUSTLESS_TOKEN: TOKEN } });
  const client = new AdminClient(host);
  t.teardown(() => client.close());
  t.same(await client.apps(), []);
  const stranger = new AdminClient({ kind: 'url', url: adminUrl });
  t.teardown(() => stranger.close());
  await t.rejects(stranger.apps(), { code: 'RUSTLESS_UNAUTHORIZED' });
});
