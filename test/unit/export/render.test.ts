// The pieces of `rustless export` that decide something: sizes, concurrency, route prefixes and
// method matches, the YAML text, and telling a static runner from a dynamic one.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseManifest } from '../../../src/manifest/manifest.js';
import { appSpec, concurrencyFor, kubeMemory } from '../../../src/export/app-spec.js';
import { dataClaim } from '../../../src/export/container.js';
import { deployment } from '../../../src/export/deployment.js';
import { httpRoutes, prefixes } from '../../../src/export/http-route.js';
import { knativeService } from '../../../src/export/knative.js';
import { isStaticElf } from '../../../src/export/images.js';
import { toYaml } from '../../../src/export/yaml.js';

const spec = (toml: string) => appSpec(parseManifest(toml), { image: 'img:1' });
const shop = spec('name = "shop"\n[[routes]]\npath = "/items"\nfunction = "List"\n[[routes]]\nmethod = ["GET", "DELETE"]\npath = "/items/:id/parts/*rest"\nfunction = "Get"\n[[routes]]\npath = "/:any"\nfunction = "Any"\ntimeout_ms = 45500\n');
const admin = spec('name = "admin"\n[[routes]]\nmethod = "POST"\npath = "/items"\nfunction = "Add"\n[container]\nmemory = "1G"\npids = 200\n');

t.test('limits and timeouts from rustless.toml', async (t) => {
  t.equal(kubeMemory('64M'), '64Mi');
  t.equal(kubeMemory('1G'), '1Gi');
  t.equal(kubeMemory('512K'), '512Ki');
  t.equal(kubeMemory('1048576'), '1048576');
  t.throws(() => kubeMemory('1T'), { code: 'RUSTLESS_INVALID_MANIFEST' });
  t.equal(concurrencyFor(64), 28);
  t.equal(concurrencyFor(4), 1, 'never below one');
  t.equal(concurrencyFor(4096), 1000, 'bounded');
  t.equal(shop.timeoutSeconds, 46, 'the longest route timeout, rounded up');
  t.equal(admin.memory, '1Gi');
  t.equal(admin.containerConcurrency, 96);
});

t.test('each route contributes the literal prefix before its first parameter', async (t) => {
  t.same(prefixes(shop), ['/items', '/']);
  t.same(prefixes(admin), ['/items']);
});

t.test('methods are matched only where apps share a prefix', async (t) => {
  const [route] = httpRoutes([shop, admin], { kind: 'deployment', namespace: 'ns', gateway: { name: 'gw' } }) as any[];
  const [shopRule, adminRule] = route.spec.rules;
  t.same(shopRule.matches, [
    { path: { type: 'PathPrefix', value: '/items' }, method: 'DELETE' },
    { path: { type: 'PathPrefix', value: '/items' }, method: 'GET' },
    { path: { type: 'PathPrefix', value: '/' } },
  ]);
  t.same(adminRule.matches, [{ path: { type: 'PathPrefix', value: '/items' }, method: 'POST' }]);
  t.same(shopRule.backendRefs, [{ name: 'shop', port: 80 }]);
  t.notOk(shopRule.filters, 'no host rewrite in front of plain Services');
  const [knative] = httpRoutes([shop], { kind: 'knative', namespace: 'ns', gateway: { name: 'gw' } }) as any[];
  t.same(knative.spec.rules[0].filters, [{ type: 'URLRewrite', urlRewrite: { hostname: 'shop.ns.svc.cluster.local' } }]);
  t.same(knative.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/items' } }, { path: { type: 'PathPrefix', value: '/' } }]);
});

t.test('the YAML text reads back as the same documents, strings staying strings', async (t) => {
  const docs = [{ a: '0', b: 'true', c: 8080, d: ['x', { e: 'y', f: [] }], g: {}, h: undefined, 'i.j/k': 'it\'s "quoted"\n' }, { second: true }];
  const text = toYaml(docs);
  const read = text.split(/^---\n/m).filter(Boolean).map((part) => parseYaml(part));
  t.same(read, [{ a: '0', b: 'true', c: 8080, d: ['x', { e: 'y', f: [] }], g: {}, 'i.j/k': 'it\'s "quoted"\n' }, { second: true }]);
  t.match(text, /^---\na: "0"\n/);
});

t.test('a static runner is told from a dynamically linked one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-elf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(await isStaticElf(process.execPath), false, 'node is linked dynamically');
  await writeFile(join(dir, 'script'), '#!/bin/sh\n');
  t.equal(await isStaticElf(join(dir, 'script')), false, 'not an ELF file');
  // A minimal static ELF64: a header and one PT_LOAD program header, no PT_INTERP.
  const elf = Buffer.alloc(64 + 56);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2;
  elf[5] = 1;
  elf.writeBigUInt64LE(64n, 0x20);
  elf.writeUInt16LE(56, 0x36);
  elf.writeUInt16LE(1, 0x38);
  elf.writeUInt32LE(1, 64);
  await writeFile(join(dir, 'static'), elf);
  t.equal(await isStaticElf(join(dir, 'static')), true);
  const dynamic = Buffer.from(elf);
  dynamic.writeUInt32LE(3, 64);
  await writeFile(join(dir, 'dynamic'), dynamic);
  t.equal(await isStaticElf(join(dir, 'dynamic')), false, 'PT_INTERP means a dynamic loader');
});

t.test('secrets are a mounted Secret and the data directory a claim, as rustless::secret and data_dir read them', async (t) => {
  const app = spec('name = "vault"\nsecrets = ["API_KEY"]\n[env]\nMODE = "prod"\n[storage]\ndata = true\n[[routes]]\npath = "/v"\nfunction = "V"\n');
  const workload = deployment(app, 'ns') as any;
  const pod = workload.spec.template.spec;
  const container = pod.containers[0];
  t.same(container.env, [
    { name: 'RUSTLESS_APP', value: 'vault' },
    { name: 'PORT', value: '8080' },
    { name: 'MODE', value: 'prod' },
    { name: 'RUSTLESS_SECRETS_DIR', value: '/run/rustless/secrets' },
    { name: 'RUSTLESS_DATA_DIR', value: '/var/lib/rustless/data' },
  ]);
  t.same(container.volumeMounts, [
    { name: 'secrets', mountPath: '/run/rustless/secrets', readOnly: true },
    { name: 'data', mountPath: '/var/lib/rustless/data' },
  ]);
  t.same(pod.volumes, [
    { name: 'secrets', secret: { secretName: 'vault-secrets', items: [{ key: 'API_KEY', path: 'API_KEY' }] } },
    { name: 'data', persistentVolumeClaim: { claimName: 'vault-data' } },
  ]);
  t.same(pod.securityContext, { fsGroup: 65534 }, 'the runner can write its volume');
  t.same(workload.spec.strategy, { type: 'Recreate' }, 'one pod at a time on a ReadWriteOnce claim');
  const knative = knativeService(app, 'ns') as any;
  t.equal(knative.spec.template.metadata.annotations['autoscaling.knative.dev/max-scale'], '1');
  t.same((dataClaim(app, 'ns') as any).spec.accessModes, ['ReadWriteOnce']);
  const plain = deployment(shop, 'ns') as any;
  t.notOk(plain.spec.template.spec.volumes, 'an app without secrets or data gets no volumes');
  t.notOk(plain.spec.template.spec.securityContext);
});
