// `rustless export --kind deployment` for real: in the Debian trixie test host (systemd +
// Podman 5.4) rust-less is installed with scripts/install.mjs, apps are deployed on the systemd
// backend, exported, and the generated Deployment + Service run under `podman kube play`, an
// engine that consumes Kubernetes YAML. The runners answer the apps' routes over TCP, alone,
// with the gateway's HTTP contract. Run it holding the test host lock, as every boot should be:
//   flock /tmp/rustless-testhost.lock npx tap test/e2e/kube-play.test.ts
import t, { type Test } from 'tap';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
// Plain JavaScript, shared with scripts/testhost.mjs.
import { boot, down } from '../../scripts/lib/testhost.mjs';
import { freePort } from '../helpers/free-port.js';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { cleanShell, type Guest, type GuestResult } from '../helpers/guest.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'e2e-kube';
const SRC = '/src/rustless';
const APPS = ['hello', 'echo', 'testbed', 'todo'];

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(25 * 60_000);

let host: Guest;
/** The gateway's public port in the test host (it shares this machine's loopback). */
let gatewayPort: number;
const ports = new Map<string, number>();
const fresh = new Agent({ pipelining: 0, headersTimeout: 30_000, bodyTimeout: 30_000 });

t.teardown(async () => {
  await fresh.close();
  await down({ name: NAME, log: () => {} });
});

function sh(cmd: string, timeoutMs = 10 * 60_000): Promise<GuestResult> {
  return host.run(cleanShell(cmd), { timeoutMs });
}

async function ok(tt: Test, cmd: string, message?: string): Promise<GuestResult> {
  const result = await sh(cmd);
  tt.equal(result.exitCode, 0, message ?? cmd, { stdout: result.stdout.slice(-3000), stderr: result.stderr.slice(-3000) });
  return result;
}

async function call(app: string, method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  const response = await request(`http://127.0.0.1:${ports.get(app)}${path}`, {
    method: method as 'GET',
    dispatcher: fresh,
    ...(body === undefined ? {} : { body, headers: { 'content-type': contentType } }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}


t.test('install rust-less in the test host and deploy the apps on the systemd backend', async (t) => {
  const binds = [{ host: ROOT, guest: SRC, readOnly: true }];
  // In a git worktree node_modules is a link out of the checkout: bring its target along.
  const modules = realpathSync(join(ROOT, 'node_modules'));
  if (!modules.startsWith(`${ROOT}/`)) binds.push({ host: modules, guest: modules, readOnly: true });
  host = (await boot({ name: NAME, binds, log: (m: string) => t.comment(m) })) as Guest;
  gatewayPort = await freePort();
  await ok(t, `cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${gatewayPort}`, 'install.mjs succeeds');
  await ok(t, `mkdir -p /root/apps && for app in ${APPS.join(' ')}; do cp -r ${SRC}/runner/examples/$app /root/apps/$app; rm -rf /root/apps/$app/target; done`);
  for (const app of APPS) await ok(t, `rustless deploy /root/apps/${app}`, `rustless deploy ${app}`);
});

t.test('on the systemd backend: [env] settings, a secret set and rotated, and data that outlives the container', async (t) => {
  const gateway = async (method: string, path: string, body?: unknown) => {
    const response = await request(`http://127.0.0.1:${gatewayPort}${path}`, {
      method: method as 'GET',
      dispatcher: fresh,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  };
  t.same((await gateway('GET', '/config/env/GREETING')).body, { name: 'GREETING', value: 'hej' }, 'the [env] setting, through EnvironmentFile=');
  const unset = await gateway('GET', '/config/secret/TESTBED_TOKEN');
  t.equal(unset.body?.error?.code, 'SECRET_NOT_SET');

  const value = 'systemd-secret-value';
  await ok(t, `printf '%s' '${value}' | rustless secret set testbed TESTBED_TOKEN`, 'rustless secret set');
  t.same((await gateway('GET', '/config/secret/TESTBED_TOKEN')).body, { name: 'TESTBED_TOKEN', value }, 'a Podman secret mounted for the runner');
  await ok(t, `printf rotated | rustless secret set testbed TESTBED_TOKEN`, 'set again');
  t.same((await gateway('GET', '/config/secret/TESTBED_TOKEN')).body?.value, 'rotated', 'the restarted runner sees the new value');
  const leaks = await sh(`grep -rl -e '${value}' -e rotated /etc/containers/systemd /etc/systemd/system /var/lib/rustless/rustless.db /var/lib/rustless/env 2>/dev/null; journalctl --no-pager -o cat | grep -c -e '${value}' -e rotated`);
  t.equal(leaks.stdout.trim(), '0', 'not in a unit, the registry, the env files or the journal', { stdout: leaks.stdout });
  t.equal((await ok(t, 'stat -c %a /var/lib/rustless/secrets/testbed/TESTBED_TOKEN')).stdout.trim(), '600', 'the stored copy is root-only');
  const data = await gateway('GET', '/config/data/x');
  t.same(data.body, { dir: '/data', exists: true }, 'the data directory is mounted at /data');

  const created = await gateway('POST', '/todos', { title: 'survive the container' });
  t.equal(created.status, 201);
  await ok(t, 'rustless stop todo', 'stopped, as an idle app is');
  t.same((await gateway('GET', '/todos')).body, [created.body], 'the todo is there after a cold start');
  await ok(t, 'rustless deploy /root/apps/todo', 'redeployed');
  t.same((await gateway('GET', '/todos')).body, [created.body], 'and after a redeploy');
  t.equal((await ok(t, 'stat -c %u /var/lib/rustless/data/todo')).stdout.trim(), '65534', "the data directory belongs to the container's user");
});

t.test('export each app as a Deployment + Service, and the image as an OCI archive', async (t) => {
  for (const app of APPS) {
    const port = await freePort();
    ports.set(app, port);
    const out = `/root/export-${app}`;
    const result = await ok(t, `rustless export ${app} --kind deployment --port ${port} --out ${out} --json`, `rustless export ${app}`);
    const exported = JSON.parse(result.stdout);
    t.equal(exported.apps[0].archive, `${out}/${app}/image.tar`, 'the image is saved beside the manifests');
    t.match((await ok(t, `cat ${out}/${app}/deployment.yaml`)).stdout, /kind: "Deployment"[\s\S]*kind: "Service"/);
    t.match((await ok(t, `cat ${out}/README.md`)).stdout, /k3s ctr images import/);
    t.match((await ok(t, `podman load --input ${out}/${app}/image.tar`)).stdout, new RegExp(`Loaded image: localhost/rustless-fn-${app}:`), 'the archive loads back');
  }
});

t.test('podman kube play runs them; each answers its routes over TCP', async (t) => {
  // First what the README asks of an operator: the data directories' claims (podman makes each a
  // named volume the pod mounts) and testbed's Secret, its value given here, never exported.
  for (const app of ['todo', 'testbed']) await ok(t, `podman kube play /root/export-${app}/${app}/data-claim.yaml`, `podman kube play the claim of ${app}`);
  const secret = ['apiVersion: v1', 'kind: Secret', 'metadata:', '  name: testbed-secrets', 'data:', `  TESTBED_TOKEN: ${Buffer.from('e2e-token').toString('base64')}`, ''].join('\n');
  await ok(t, `printf '%s' '${secret}' > /root/testbed-secret.yaml && podman kube play /root/testbed-secret.yaml`, 'the operator creates testbed-secrets');
  for (const app of APPS) {
    // Host networking: the test host shares this machine's network namespace, and netavark's
    // bridge would write nftables rules into it. cgroupfs: the test host's nested systemd
    // cannot create the pod's slice (a limit of the test host, not of the manifests).
    await ok(t, `podman --cgroup-manager=cgroupfs kube play --network host /root/export-${app}/${app}/deployment.yaml`, `podman kube play ${app}`);
  }
  for (const app of APPS) {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !(await call(app, 'GET', '/').then(() => true, () => false))) await sleep(200);
  }

  const inspect = await ok(t, `podman inspect hello-pod-runner --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.Memory}} {{len .HostConfig.CapAdd}}'`);
  t.equal(inspect.stdout.trim(), 'true 65534:65534 134217728 0', 'read-only root, uid 65534, 128 MiB, no capabilities added');

  t.same((await call('hello', 'GET', '/hello/pi')).body, { message: 'hello pi' });
  const wrong = await call('hello', 'DELETE', '/hello/pi');
  t.equal(wrong.status, 405);
  t.equal(wrong.headers.allow, 'GET, HEAD');
  t.equal((await call('hello', 'GET', '/nothing')).body.error.code, 'RUSTLESS_NOT_FOUND');
  const echoed = await call('echo', 'POST', '/echo', '{"a":[1,2]}');
  t.equal(echoed.status, 201);
  t.same(echoed.body, { a: [1, 2] });
  t.equal((await call('echo', 'POST', '/echo', 'a=1', 'application/x-www-form-urlencoded')).status, 415);
  t.equal((await call('echo', 'POST', '/echo', '{"a":', 'application/json')).body.error.code, 'RUSTLESS_INVALID_JSON');
  t.equal((await call('testbed', 'GET', '/panic')).status, 500);
  const slow = await call('testbed', 'GET', '/slow?ms=5000');
  t.equal(slow.status, 504, 'the route timeout from rustless.toml holds in the pod');
  t.equal((await call('testbed', 'GET', '/version')).status, 200);
  t.same((await call('testbed', 'GET', '/config/env/GREETING')).body, { name: 'GREETING', value: 'hej' }, '[env] reaches the function');
  t.same((await call('testbed', 'GET', '/config/secret/TESTBED_TOKEN')).body, { name: 'TESTBED_TOKEN', value: 'e2e-token' }, 'rustless::secret reads the mounted Secret');
  t.match((await call('testbed', 'GET', '/config/data/dir')).body, { exists: true }, 'rustless::data_dir is the mounted claim');

  const created = await call('todo', 'POST', '/todos', '{"title":"move to k3s"}');
  t.equal(created.status, 201, 'todo writes its list in the data volume');
  const id = created.body.id;
  await ok(t, 'podman --cgroup-manager=cgroupfs kube down /root/export-todo/todo/deployment.yaml', 'the todo pod goes');
  await ok(t, 'podman --cgroup-manager=cgroupfs kube play --network host /root/export-todo/todo/deployment.yaml', 'and comes back');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !(await call('todo', 'GET', '/').then(() => true, () => false))) await sleep(200);
  const kept = await call('todo', 'GET', `/todos/${id}`);
  t.equal(kept.status, 200, 'the todo outlived its pod');
  t.equal(kept.body.title, 'move to k3s');

  for (const app of APPS) await ok(t, `podman --cgroup-manager=cgroupfs kube down /root/export-${app}/${app}/deployment.yaml`, `podman kube down ${app}`);
});
