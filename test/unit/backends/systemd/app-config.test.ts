// The Quadlet lines for an app's settings, secrets and data directory, rendered into the real
// template; Quadlet itself reads them in the e2e suite (test/e2e/kube-play.test.ts deploys on
// the systemd backend in the test host).
import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderAppConfig } from '../../../../src/backends/systemd/app-config.js';
import { fill, renderContainer } from '../../../../src/backends/systemd/units.js';
import { DEFAULT_CONTAINER, parseManifest } from '../../../../src/manifest/manifest.js';

const manifest = (extra: string) =>
  parseManifest(`name = "todo"\n${extra}\n[[routes]]\npath = "/todos"\nfunction = "Todos"\n`);

t.test('settings go to an env file, secrets to Podman secret mounts, data to a volume', async (t) => {
  const state = await mkdtemp(join(tmpdir(), 'rustless-app-config-'));
  t.teardown(() => rm(state, { recursive: true, force: true }));
  const lines = await renderAppConfig(state, 'todo', manifest('secrets = ["DB_PASSWORD"]\n[env]\nGREETING = "50% off $HOME \\"quoted\\""\n[storage]\ndata = true\n'), ['DB_PASSWORD']);
  t.match(lines, `EnvironmentFile=${join(state, 'env', 'todo.env')}`);
  t.equal(await readFile(join(state, 'env', 'todo.env'), 'utf8'), 'GREETING=50% off $HOME "quoted"\n', 'the value as written: no quoting for systemd to expand');
  t.equal((await stat(join(state, 'env', 'todo.env'))).mode & 0o777, 0o600);
  t.match(lines, 'Secret=rustless-fn-todo-DB_PASSWORD,type=mount,target=/run/secrets/DB_PASSWORD,uid=65534,gid=65534,mode=0400');
  t.match(lines, 'Environment=RUSTLESS_SECRETS_DIR=/run/secrets');
  t.match(lines, `Volume=${join(state, 'data', 'todo')}:/data:rw,U`);
  t.match(lines, 'Environment=RUSTLESS_DATA_DIR=/data');
  t.ok((await stat(join(state, 'data', 'todo'))).isDirectory());

  const unit = await renderContainer({ app: 'todo', buildId: 3, image: 'localhost/rustless-fn-todo:3', container: DEFAULT_CONTAINER, appConfig: lines });
  t.match(unit, /\nEnvironmentFile=.*\nEnvironment=RUSTLESS_SECRETS_DIR=\/run\/secrets\nSecret=rustless-fn-todo-DB_PASSWORD,/, 'whole lines in the [Container] section');
  t.notMatch(unit, /\{\{/, 'no placeholder left');
});

t.test('an app without settings or data gets no env file and no volume; a stale env file goes', async (t) => {
  const state = await mkdtemp(join(tmpdir(), 'rustless-app-config-'));
  t.teardown(() => rm(state, { recursive: true, force: true }));
  await renderAppConfig(state, 'todo', manifest('[env]\nA = "1"\n'), []);
  const lines = await renderAppConfig(state, 'todo', manifest(''), []);
  t.equal(lines, 'Environment=RUSTLESS_SECRETS_DIR=/run/secrets');
  await t.rejects(stat(join(state, 'env', 'todo.env')), { code: 'ENOENT' });
});

t.test('only the app config may span lines in a unit', async (t) => {
  t.throws(() => fill('X={{image}}', { image: 'a\nExecStartPre=/bin/sh' }), { code: 'RUSTLESS_INTERNAL' });
  t.throws(() => fill('{{appConfig}}', { appConfig: 'A=1\r\nB=2' }), { code: 'RUSTLESS_INTERNAL' });
  t.equal(fill('{{appConfig}}', { appConfig: 'A=1\nB=2' }), 'A=1\nB=2');
});
