// A registry opened read-only, as a test beside the gateway opens its live file: it reads,
// never writes or migrates, and refuses a file of another schema version.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseManifest } from '../../../src/manifest/manifest.js';
import { Registry } from '../../../src/registry/registry.js';

const dir = await mkdtemp(join(tmpdir(), 'rustless-registry-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('reads what the gateway wrote, writes nothing', async (t) => {
  const file = join(dir, 'live.db');
  const live = new Registry(file);
  const build = live.createBuild(parseManifest('name = "hello"\n[[routes]]\npath = "/h"\nfunction = "H"\n'));
  live.markSucceeded(build.id, { binaryPath: '/x', image: 'localhost/rustless-fn-hello:1' });
  const reader = new Registry(file, { readonly: true });
  t.teardown(() => {
    reader.close();
    live.close();
  });
  t.same(reader.requireBuild(build.id).artifact, { binaryPath: '/x', image: 'localhost/rustless-fn-hello:1' });
  t.throws(() => reader.createBuild(build.manifest), { code: 'SQLITE_READONLY' });
});

t.test('refuses a missing file or another schema version', async (t) => {
  t.throws(() => new Registry(join(dir, 'missing.db'), { readonly: true }));
  const file = join(dir, 'old.db');
  new Database(file).close();
  t.throws(() => new Registry(file, { readonly: true }), { code: 'RUSTLESS_BACKEND_FAILED', message: /schema version 0/ });
});
