/**
 * `rustless export` goes through the admin API, so what it can reach is what that API grants:
 * the succeeded builds of an app it names, nothing else of the host. These are the refusals,
 * on a real gateway (the images themselves are tested on the systemd backend, in
 * test/e2e/kube-play.test.ts and test/e2e/laptop.test.ts).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import t from 'tap';
import { EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let admin: Agent;

t.before(async () => {
  gw = await startGateway();
  for (const app of ['hello', 'echo']) {
    const deployed = await gw.deploy(join(EXAMPLES, app));
    if (deployed.exitCode !== 0) throw new Error(deployed.stderr);
  }
  admin = new Agent({ connect: { socketPath: gw.adminSocket } });
});
t.teardown(async () => {
  await admin.close();
  await gw.stop();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await request(`http://admin${path}`, {
    method: method as 'GET',
    dispatcher: admin,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.statusCode, body: await response.body.json() };
}

t.test("an app's image is reachable only through that app's own succeeded builds", async (t) => {
  const hello = await gw.app('hello');
  const echo = await gw.app('echo');
  const other = await call('GET', `/v1/apps/hello/export/image?build=${echo.currentBuild}`);
  t.equal(other.status, 404, "another app's build is not hello's");
  t.match(other.body.error, { code: 'RUSTLESS_BUILD_NOT_FOUND', message: `app hello has no succeeded build #${echo.currentBuild}` });
  t.equal((await call('GET', '/v1/apps/hello/export?build=999')).body.error.code, 'RUSTLESS_BUILD_NOT_FOUND');
  t.equal((await call('GET', '/v1/apps/hello/export?build=..%2F1')).status, 400, 'a build id is a number');
  t.equal((await call('GET', '/v1/apps/ghost/export')).body.error.code, 'RUSTLESS_APP_NOT_FOUND');
  t.equal((await call('GET', '/v1/apps/..%2F..%2Fetc/export/image')).status, 404, 'no path out of the apps');
  const push = await call('POST', '/v1/apps/hello/export/push', { registry: 'evil registry/x', build: hello.currentBuild });
  t.equal(push.status, 400);
  t.match(push.body.error.message, /`registry` must be REGISTRY\/PREFIX/);
  t.equal((await call('POST', '/v1/apps/hello/export/push', { build: hello.currentBuild })).status, 400, 'a push names its registry');
});

t.test("the local backend's runner cannot become an image, and export says why", async (t) => {
  const source = await call('GET', '/v1/apps/hello/export');
  t.equal(source.status, 409);
  t.match(source.body.error, { code: 'RUSTLESS_NOT_EXPORTABLE', message: /linked dynamically.*Deploy the app to a gateway with the systemd backend/ });
  const out = await mkdtemp(join(tmpdir(), 'rustless-export-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const cli = await gw.cli(['export', 'hello', '--out', out]);
  t.equal(cli.exitCode, 1);
  t.match(cli.stderr, /app hello was built by the local backend/);
  t.same(await readdir(out), [], 'nothing half-written');
});
