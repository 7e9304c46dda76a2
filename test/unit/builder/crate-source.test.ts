import { parse } from 'smol-toml';
import t from 'tap';
import { DEBIAN_REGISTRY, detectCrateSource, probeCratesIo, renderCargoConfigToml } from '../../../src/builder/crate-source.js';

const up = async (): Promise<boolean> => true;
const down = async (): Promise<boolean> => false;

t.test('auto: crates.io when reachable, else the Debian registry, else crates.io', async (t) => {
  t.match(await detectCrateSource({ env: {}, probe: up }), { kind: 'crates-io', cargoConfig: [], reason: /index.crates.io is reachable/ });
  t.same((await detectCrateSource({ env: {}, probe: down, debianRegistry: '/' })).cargoConfig, [
    'source.crates-io.replace-with="debian-registry"',
    'source.debian-registry.directory="/"',
    'net.offline=true',
  ]);
  t.match(await detectCrateSource({ env: {}, probe: down, debianRegistry: '/nonexistent' }), { kind: 'crates-io', reason: /does not exist/ });
});

t.test('RUSTLESS_CRATES overrides the probe', async (t) => {
  const never = async (): Promise<boolean> => t.fail('no probe when the choice is explicit') as never;
  t.match(await detectCrateSource({ env: { RUSTLESS_CRATES: 'debian' }, probe: never }), { kind: 'debian' });
  t.match(await detectCrateSource({ env: { RUSTLESS_CRATES: 'crates-io' }, probe: never }), { kind: 'crates-io' });
  t.match(await detectCrateSource({ env: { RUSTLESS_CRATES: 'auto' }, probe: up }), { kind: 'crates-io' });
  await t.rejects(detectCrateSource({ env: { RUSTLESS_CRATES: 'npm' } }), { message: /must be crates-io, debian or auto, got "npm"/ });
});

t.test('the probe is asked once per process', async (t) => {
  const first = probeCratesIo();
  t.equal(probeCratesIo(), first);
  t.type(await first, 'boolean');
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
