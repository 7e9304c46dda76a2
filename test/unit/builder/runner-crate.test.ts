import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import t from 'tap';
import { parseManifest } from '../../../src/manifest/manifest.js';
import { distinctFunctions, generateRunnerCrate, inspectUserCrate, rewriteUserCargoToml, runnerMainRs } from '../../../src/builder/runner-crate.js';

const root = await mkdtemp(join(tmpdir(), 'rustless-runner-crate-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
const RUNNER = '/opt/rustless/runner';

let counter = 0;
async function crate(cargoToml: string, files: Record<string, string> = { 'src/lib.rs': '' }): Promise<string> {
  const dir = join(root, `crate-${++counter}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Cargo.toml'), cargoToml);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(join(dir, file, '..'), { recursive: true });
    await writeFile(join(dir, file), text);
  }
  return dir;
}

function rewrite(text: string): Record<string, any> {
  return parse(rewriteUserCargoToml(parse(text), RUNNER)) as Record<string, any>;
}

const PACKAGE = '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n';

t.test('the rustless dependency points at this host, whatever form it had', async (t) => {
  t.same(rewrite(`${PACKAGE}[dependencies]\nrustless = "0.1"\nserde = "1"\n`).dependencies, {
    rustless: { path: `${RUNNER}/rustless` },
    serde: '1',
  }, 'a crates.io version');
  t.same(rewrite(`${PACKAGE}[dependencies]\nrustless = { path = "../../rustless" }\n`).dependencies, { rustless: { path: `${RUNNER}/rustless` } }, 'a path that does not exist here');
  t.same(
    rewrite(`${PACKAGE}[dependencies]\nrustless = { git = "https://example.com/rustless.git", branch = "main", features = ["x"], default-features = false }\n`).dependencies,
    { rustless: { path: `${RUNNER}/rustless`, features: ['x'], 'default-features': false } },
    'a git dependency keeps its features',
  );
  t.same(rewrite(`${PACKAGE}[dependencies.rustless]\nversion = "0.1.0"\nregistry = "mine"\n`).dependencies, { rustless: { path: `${RUNNER}/rustless` } }, 'a table form');
  t.same(
    rewrite(`${PACKAGE}[dependencies]\nrl = { package = "rustless", version = "0.1" }\n`).dependencies,
    { rl: { path: `${RUNNER}/rustless`, package: 'rustless' } },
    'a renamed dependency',
  );
  const both = rewrite(`${PACKAGE}[dependencies]\nrustless = "0.1"\n[dev-dependencies]\nrustless = { version = "0.1", features = ["test"] }\n`);
  t.same(both['dev-dependencies'], { rustless: { path: `${RUNNER}/rustless`, features: ['test'] } }, 'dev-dependencies too');
  const target = rewrite(`${PACKAGE}[target.'cfg(unix)'.dependencies]\nrustless = "0.1"\n`);
  t.same(target.target['cfg(unix)'].dependencies, { rustless: { path: `${RUNNER}/rustless` } }, 'platform-specific dependencies too');
});

t.test('[workspace] goes, and what the package inherited from it is copied in', async (t) => {
  const doc = rewrite(
    '[package]\nname = "hello"\nversion.workspace = true\nedition = "2021"\nworkspace = ".."\n' +
      '[dependencies]\nserde = { workspace = true, features = ["derive"] }\nrustless.workspace = true\n' +
      '[workspace]\nmembers = ["."]\n[workspace.package]\nversion = "1.2.3"\n' +
      '[workspace.dependencies]\nserde = { version = "1", features = ["std"] }\nrustless = "0.1"\n',
  );
  t.notOk('workspace' in doc, 'no [workspace] table');
  t.same(doc.package, { name: 'hello', version: '1.2.3', edition: '2021' }, 'package fields inherited, package.workspace removed');
  t.same(doc.dependencies.serde, { version: '1', features: ['std', 'derive'] });
  t.same(doc.dependencies.rustless, { path: `${RUNNER}/rustless` });
  t.throws(() => rewriteUserCargoToml(parse('[package]\nname = "x"\nversion.workspace = true\n'), RUNNER), {
    code: 'RUSTLESS_INVALID_UPLOAD',
    message: /`package.version` is inherited from a workspace/,
  });
});

t.test('Cargo.toml is read as data: inherited object properties are never workspace entries', async (t) => {
  const refused = (text: string, message: RegExp) => t.throws(() => rewriteUserCargoToml(parse(text), RUNNER), { code: 'RUSTLESS_INVALID_UPLOAD', message }, text);
  refused('[package]\nname = "x"\ntoString.workspace = true\n', /`package.toString` is inherited from a workspace/);
  refused('[package]\nname = "x"\nconstructor.workspace = true\n[workspace]\n', /`package.constructor` is inherited/);
  refused('[package]\nname = "x"\n[dependencies]\nconstructor = { workspace = true }\n', /`dependencies.constructor` is inherited/);
  refused('[package]\nname = "x"\n[dependencies]\n__proto__ = { workspace = true }\n', /`dependencies.__proto__` is inherited/);
  refused('[package]\nname = "x"\n[dependencies]\nhasOwnProperty = { workspace = true }\n[workspace.dependencies]\n', /`dependencies.hasOwnProperty`/);
  const ok = parse(
    rewriteUserCargoToml(parse('[package]\nname = "x"\n[dependencies]\n__proto__ = { workspace = true }\n[workspace.dependencies]\n__proto__ = "1"\n'), RUNNER),
  ) as Record<string, any>;
  t.same(Object.keys(ok.dependencies), ['__proto__'], 'a dependency really named __proto__ stays a key');
  t.same(Object.getOwnPropertyDescriptor(ok.dependencies, '__proto__')?.value, { version: '1' });
  await t.rejects(inspectUserCrate(await crate(`${PACKAGE}toString.workspace = true\n`)), { code: 'RUSTLESS_INVALID_UPLOAD', message: /`package.toString`/ }, 'inspect refuses it too');
});

t.test('the crate must be a library with a usable name', async (t) => {
  t.equal((await inspectUserCrate(await crate(PACKAGE))).name, 'hello');
  t.equal((await inspectUserCrate(await crate(PACKAGE.replace('hello', 'my-app')))).name, 'my-app', 'dashes are fine');
  await t.rejects(inspectUserCrate(await crate(PACKAGE, { 'src/main.rs': 'fn main() {}' })), {
    code: 'RUSTLESS_INVALID_UPLOAD',
    message: /^Cargo.toml: the crate "hello" is not a library: it has no \[lib\] table and no src\/lib.rs/,
  });
  t.ok(await inspectUserCrate(await crate(`${PACKAGE}[lib]\npath = "src/app.rs"\n`, { 'src/app.rs': '' })), '[lib] with another path');
  await t.rejects(inspectUserCrate(await crate(`${PACKAGE}[lib]\ncrate-type = ["cdylib"]\n`)), { code: 'RUSTLESS_INVALID_UPLOAD', message: /crate-type/ });
  for (const bad of ['1hello', 'my.app', 'fn', 'hé']) {
    await t.rejects(inspectUserCrate(await crate(PACKAGE.replace('"hello"', JSON.stringify(bad)))), {
      code: 'RUSTLESS_INVALID_UPLOAD',
      message: new RegExp(`must be a Rust identifier.*got ${JSON.stringify(bad).replace('.', '\\.')}`),
    }, `refuses ${bad}`);
  }
  await t.rejects(inspectUserCrate(await crate('[workspace]\nmembers = ["a"]\n')), { message: /no \[package\] table/ });
  await t.rejects(inspectUserCrate(await crate('[package\n')), { code: 'RUSTLESS_INVALID_UPLOAD', message: /^Cargo.toml: not valid TOML/ });
});

const MANIFEST = parseManifest(
  'name = "greeter"\n' +
    '[[routes]]\npath = "/hello"\nfunction = "Hello"\n' +
    '[[routes]]\npath = "/echo"\nmethod = "POST"\nfunction = "handlers::Echo"\naccept = ["application/json", "application/x-www-form-urlencoded"]\n' +
    '[[routes]]\npath = "/hello/:name"\nfunction = "Hello"\n' +
    '[[routes]]\npath = "/*rest"\nmethod = "*"\nfunction = "Hello"\nfallback = true\n',
);

t.test('main.rs registers each distinct function once, then every route and the body limit', async (t) => {
  t.same(distinctFunctions(MANIFEST), ['Hello', 'handlers::Echo']);
  t.equal(
    runnerMainRs(MANIFEST),
    '// Generated by rust-less for the app "greeter": one registration per function in rustless.toml,\n' +
      '// then its routes, which the runner uses when it answers clients itself (a TCP socket, no gateway).\n' +
      'fn main() {\n' +
      '    rustless_runner::Runner::new()\n' +
      '        .function("Hello", user_app::Hello::default())\n' +
      '        .function("handlers::Echo", user_app::handlers::Echo::default())\n' +
      '        .route(&["GET"], "/hello", "Hello", 30000)\n' +
      '        .route(&["POST"], "/echo", "handlers::Echo", 30000)\n' +
      '        .accept(&["application/json", "application/x-www-form-urlencoded"])\n' +
      '        .route(&["GET"], "/hello/:name", "Hello", 30000)\n' +
      '        .fallback_route(&["*"], "/*rest", "Hello", 30000)\n' +
      '        .max_body_bytes(1048576)\n' +
      '        .run();\n' +
      '}\n',
  );
  const hostile = { ...MANIFEST, routes: [{ ...MANIFEST.routes[0]!, function: 'Hello::default()); std::process::exit(1); (x' }] };
  t.throws(() => distinctFunctions(hostile), { code: 'RUSTLESS_INVALID_MANIFEST' }, 'a function that is not a path never reaches main.rs');
});

t.test('generateRunnerCrate lays out the runner crate and moves the upload in', async (t) => {
  const upload = await crate(`${PACKAGE.replace('hello', 'greeter-app')}[dependencies]\nrustless = "0.1"\n[workspace]\n`, { 'src/lib.rs': 'pub struct Hello;\n', 'rustless.toml': '' });
  const buildDir = join(root, 'build-1');
  const { binaryName } = await generateRunnerCrate({ buildDir, uploadDir: upload, manifest: MANIFEST, runnerDir: RUNNER });
  t.equal(binaryName, 'rustless-app-greeter');
  t.notOk(existsSync(upload), 'the upload was moved');
  t.equal(await readFile(join(buildDir, 'app', 'src', 'lib.rs'), 'utf8'), 'pub struct Hello;\n');

  const root_ = parse(await readFile(join(buildDir, 'Cargo.toml'), 'utf8')) as Record<string, any>;
  t.same(root_.package, { name: 'rustless-app-greeter', version: '0.0.0', edition: '2021', publish: false });
  t.same(root_.dependencies, {
    user_app: { package: 'greeter-app', path: 'app' },
    'rustless-runner': { path: `${RUNNER}/rustless-runner` },
    rustless: { path: `${RUNNER}/rustless` },
    serde: { version: '1', features: ['derive'] },
  });
  t.same(root_.workspace, {}, 'its own workspace root');
  t.equal(root_.profile.release.panic, 'unwind', 'panics stay catchable');
  t.equal(root_.profile.release['opt-level'], 3);

  const app = parse(await readFile(join(buildDir, 'app', 'Cargo.toml'), 'utf8')) as Record<string, any>;
  t.same(app.dependencies, { rustless: { path: `${RUNNER}/rustless` } });
  t.notOk('workspace' in app);
  t.match(await readFile(join(buildDir, 'src', 'main.rs'), 'utf8'), /user_app::handlers::Echo::default\(\)/);
});
