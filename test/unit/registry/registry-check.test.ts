// The registry's check at gateway start (src/registry/registry-check.ts), on real SQLite files
// damaged the ways a card can damage them: an index page whose keys no longer match the table,
// a page nothing uses, a file that is not a database at all.
import t from 'tap';
import Database from 'better-sqlite3';
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '../../../src/manifest/manifest.js';
import { checkRegistryFile } from '../../../src/registry/registry-check.js';
import { Registry } from '../../../src/registry/registry.js';
import { damageIndex, rewritePage } from '../../helpers/damaged-registry.js';

const dir = await mkdtemp(join(tmpdir(), 'rustless-registry-check-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** A registry with 50 apps, closed. */
function registryFile(name: string): string {
  const file = join(dir, name);
  const registry = new Registry(file);
  for (let i = 0; i < 50; i++) registry.createBuild(parseManifest(`name = "app${i}"\n[[routes]]\npath = "/a${i}"\nfunction = "H"\n`));
  registry.close();
  return file;
}

function integrity(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

t.test('a sound registry, or none yet: nothing to say', async (t) => {
  t.equal(checkRegistryFile(registryFile('sound.db')), undefined);
  t.equal(checkRegistryFile(join(dir, 'missing.db')), undefined);
});

t.test('an index that no longer matches its table is rebuilt (REINDEX)', async (t) => {
  const file = registryFile('index.db');
  damageIndex(file, 'builds_by_app');
  t.not(integrity(file), 'ok', 'the file is damaged');
  t.match(checkRegistryFile(file), /failed its integrity check \(row \d+ missing from index builds_by_app.*\); its indexes were rebuilt \(REINDEX\) and it passes now/);
  t.equal(integrity(file), 'ok');
  const registry = new Registry(file);
  t.equal(registry.listApps().length, 50, 'every app is there');
  registry.close();
});

t.test('a page nothing uses: what SQLite reads is copied to a new file, the damaged one kept', async (t) => {
  const file = registryFile('orphan.db');
  // One more page in the header's page count, used by no table, index or freelist.
  let size = 0;
  rewritePage(file, 1, (buf) => {
    size = buf.length;
    buf.writeUInt32BE(buf.readUInt32BE(28) + 1, 28);
  });
  appendFileSync(file, Buffer.alloc(size));
  t.not(integrity(file), 'ok', 'the file is damaged');
  const line = checkRegistryFile(file, new Date('2026-12-03T11:00:00Z'));
  t.match(line, /copied to a new file \(VACUUM INTO\), the damaged one kept as .*orphan\.db\.corrupt-2026-12-03T11-00-00-000Z/);
  t.equal(integrity(file), 'ok');
  t.ok(existsSync(`${file}.corrupt-2026-12-03T11-00-00-000Z`), 'the damaged file is kept');
  const registry = new Registry(file);
  t.equal(registry.listApps().length, 50, 'every app is there');
  registry.close();
});

t.test('a file that is not a database: the gateway refuses to start, saying how to recover', async (t) => {
  const file = join(dir, 'garbage.db');
  writeFileSync(file, Buffer.alloc(8192, 7));
  t.throws(() => checkRegistryFile(file), { code: 'RUSTLESS_REGISTRY_CORRUPT', message: /is damaged \(file is not a database\).*sqlite3 .*garbage\.db \.recover/ });
  t.notOk(readdirSync(dir).some((name) => name.startsWith('garbage.db.')), 'no half-made copy is left');
});
