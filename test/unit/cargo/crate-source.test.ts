import { parse } from 'smol-toml';
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, DEBIAN_REGISTRY, detectCrateSource, probeCratesIo, renderCargoConfigToml, type ProbeResult } from '../../../src/cargo/crate-source.js';

const up = async (): Promise<ProbeResult> => ({ reachable: true, detail: 'connected' });
const down = async (): Promise<ProbeResult> => ({ reachable: false, detail: 'getaddrinfo ENOTFOUND index.crates.io' });

t.test('auto: crates.io when it answered, else the Debian registry, else no source at all', async (t) => {
  t.match(await detectCrateSource({ env: {}, probe: up }), { kind: 'crates-io', cargoConfig: [], reason: /index.crates.io:443 answered/, tried: ['index.crates.io:443: connected'] });
  t.same((await detectCrateSource({ env: {}, probe: down, debianRegistry: '/' })).cargoConfig, [
    'source.crates-io.replace-with="debian-registry"',
    'source.debian-registry.directory="/"',
    'net.offline=true',
  ]);
  // Neither reached: never reported as crates.io (the doctor once said "reachable" here).
  const none = await detectCrateSource({ env: {}, probe: down, debianRegistry: '/nonexistent' });
  t.match(none, { kind: 'none', cargoConfig: [], reason: /^no crate source: index.crates.io:443: getaddrinfo ENOTFOUND/ });
  t.same(none.tried, ['index.crates.io:443: getaddrinfo ENOTFOUND index.crates.io', '/nonexistent: does not exist']);
  const empty = await mkdtemp(join(tmpdir(), 'rustless-empty-registry-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  t.match(await detectCrateSource({ env: {}, probe: down, debianRegistry: empty }), { kind: 'none', tried: [/ENOTFOUND/, /is empty/] });
});

t.test('the real probe says what happened', async (t) => {
  const refused = await canConnect('127.0.0.1', 1, 1000);
  t.same(refused, { reachable: false, detail: 'connect ECONNREFUSED 127.0.0.1:1' });
});

t.test('RUSTLESS_CRATES overrides the probe', async (t) => {
  const never = async (): Promise<ProbeResult> => t.fail('no probe when the choice is explicit') as never;
  t.match(await detectCrateSource({ env: { RUSTLESS_CRATES: 'debian' }, probe: never }), { kind: 'debian' });
  t.match(await detectCrateSource({ env: { RUSTLESS_CRATES: 'crates-io' }, probe: never }), { kind: 'crates-io' });
  t.match(await detectCrateSource({ env: { RUSTLESS_CRATES: 'auto' }, probe: up }), { kind: 'crates-io' });
  await t.rejects(detectCrateSource({ env: { RUSTLESS_CRATES: 'npm' } }), { message: /must be crates-io, debian or auto, got "npm"/ });
});

t.test('the probe is asked once per process', async (t) => {
  const first = probeCratesIo();
  t.equal(probeCratesIo(), first);
  t.type((await first).reachable, 'boolean');
});

t.test('.cargo/config.toml text says the same as the --config values', async (t) => {
  const source = await detectCrateSource({ env: { RUSTLESS_CRATES: 'debian' } });
  const text = renderCargoConfigToml(source);
  t.same(parse(text!), {
    source: { 'crates-io': { 'replace-with': 'debian-registry' }, 'debian-registry': { directory: DEBIAN_REGISTRY } },
    net: { offline: true },
  });
  t.equal(renderCargoConfigToml(await detectCrateSource({ env: { RUSTLESS_CRATES: 'crates-io' } })), undefined);
});
