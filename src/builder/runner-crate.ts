/**
 * The runner crate: a small generated binary crate whose `main` registers each function of the
 * app with `rustless_runner::Runner`, then the app's routes and body limit (so the same binary can
 * answer clients without the gateway, on Knative or Kubernetes), and which links the user's crate (under `app/`) as the
 * library `user_app`. The user's Cargo.toml is rewritten so it builds here exactly as it does on
 * their machine, only against this host's copy of the `rustless` crate.
 */
import { existsSync } from 'node:fs';
import { cp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { RustlessError } from '../errors.js';
import type { AppManifest } from '../manifest/manifest.js';
import { makeDirectory } from '../storage/make-directory.js';

type Table = Record<string, unknown>;

const RUST_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RUST_PATH = /^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$/;
// Keywords cannot name a crate or a path segment (raw identifiers aside, which nobody uses here).
const RUST_KEYWORDS = new Set(
  (
    'as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return ' +
    'self Self static struct super trait true type unsafe use where while abstract become box do final macro override priv try typeof unsized virtual yield'
  ).split(' '),
);
const DEPENDENCY_TABLES = ['dependencies', 'dev-dependencies', 'build-dependencies'];

/** What the builder needs to know about an uploaded crate before it records a build. */
export interface UserCrate {
  /** `[package] name`, as written. */
  name: string;
  /** The parsed Cargo.toml. */
  toml: Table;
}

export interface GenerateRunnerCrateOptions {
  /** Where the runner crate goes; created if missing. */
  buildDir: string;
  /** The unpacked upload; moved to `<buildDir>/app`. */
  uploadDir: string;
  manifest: AppManifest;
  /** The `runner/` directory holding the `rustless` and `rustless-runner` crates. */
  runnerDir: string;
}

/**
 * Reads and checks `<dir>/Cargo.toml`: a package whose name is a Rust identifier once `-` is
 * `_`, a library (`[lib]` or `src/lib.rs`), and nothing inherited from a workspace the upload
 * lacks. Errors are RUSTLESS_INVALID_UPLOAD naming the file.
 */
export async function inspectUserCrate(dir: string): Promise<UserCrate> {
  const file = join(dir, 'Cargo.toml');
  const fail = (message: string): never => {
    throw new RustlessError('RUSTLESS_INVALID_UPLOAD', `Cargo.toml: ${message}`, { details: { file: 'Cargo.toml' } });
  };
  let toml: Table;
  try {
    toml = parseToml(await readFile(file, 'utf8')) as Table;
  } catch (error) {
    return fail(`not valid TOML: ${(error as Error).message.split('\n')[0]}`);
  }
  const pkg = own(toml, 'package');
  if (!isTable(pkg)) return fail('has no [package] table; upload the crate of the function app itself, not a workspace');
  const name = own(pkg, 'name');
  if (typeof name !== 'string') return fail(`\`package.name\` must be a string, got ${show(name)}`);
  const ident = name.replaceAll('-', '_');
  if (!RUST_IDENT.test(ident) || RUST_KEYWORDS.has(ident)) {
    fail(`\`package.name\` must be a Rust identifier once dashes become underscores (letters, digits, _ and -), got ${show(name)}`);
  }

  const lib = own(toml, 'lib');
  if (lib !== undefined) {
    if (!isTable(lib)) fail(`\`lib\` must be a table, got ${show(lib)}`);
    const types = own(lib as Table, 'crate-type') ?? own(lib as Table, 'crate_type');
    if (Array.isArray(types) && !types.some((type) => type === 'lib' || type === 'rlib')) {
      fail(`\`lib.crate-type\` must include "lib" or "rlib" so the runner can link the crate, got ${show(types)}`);
    }
  } else if (!existsSync(join(dir, 'src', 'lib.rs'))) {
    fail(`the crate ${show(name)} is not a library: it has no [lib] table and no src/lib.rs; function apps are library crates`);
  }
  // Checked now, on a copy, so that a crate the runner could not build is refused before a build is recorded.
  const workspace = own(toml, 'workspace');
  inheritFromWorkspace(structuredClone(toml), isTable(workspace) ? workspace : undefined);
  return { name, toml };
}

/**
 * Lays out the runner crate in `buildDir` (Cargo.toml, src/main.rs) and moves the upload to
 * `buildDir/app` with its Cargo.toml rewritten. Returns the name of the binary cargo will build.
 */
export async function generateRunnerCrate({ buildDir, uploadDir, manifest, runnerDir }: GenerateRunnerCrateOptions): Promise<{ binaryName: string }> {
  const runner = resolve(runnerDir);
  const user = await inspectUserCrate(uploadDir);
  const binaryName = `rustless-app-${manifest.name}`;

  await makeDirectory(join(buildDir, 'src'));
  const appDir = join(buildDir, 'app');
  await move(uploadDir, appDir);
  await writeFile(join(appDir, 'Cargo.toml'), rewriteUserCargoToml(user.toml, runner));
  await writeFile(join(buildDir, 'Cargo.toml'), runnerCargoToml({ binaryName, app: manifest.name, userCrate: user.name, runnerDir: runner }));
  await writeFile(join(buildDir, 'src', 'main.rs'), runnerMainRs(manifest));
  return { binaryName };
}

/** The functions named by the routes, each once, in the order they first appear. */
export function distinctFunctions(manifest: AppManifest): string[] {
  const functions = [...new Set(manifest.routes.map((route) => route.function))];
  for (const path of functions) {
    // The manifest checked this already; the text below becomes Rust source, so check again.
    if (!RUST_PATH.test(path) || path.split('::').some((segment) => RUST_KEYWORDS.has(segment))) {
      throw new RustlessError('RUSTLESS_INVALID_MANIFEST', `rustless.toml: function ${show(path)} is not a Rust path such as "Hello" or "handlers::Echo"`);
    }
  }
  return functions;
}

export function runnerMainRs(manifest: AppManifest): string {
  const registrations = distinctFunctions(manifest).map((path) => `        .function(${JSON.stringify(path)}, user_app::${path}::default())\n`).join('');
  // Patterns, methods and media types were validated with the manifest: their characters need no escaping
  // beyond what JSON.stringify does, which Rust string literals read the same way.
  const routes = manifest.routes
    .map(
      (route) =>
        `        .${route.fallback ? 'fallback_route' : 'route'}(&[${route.methods.map((m) => JSON.stringify(m)).join(', ')}], ${JSON.stringify(route.path)}, ${JSON.stringify(route.function)}, ${route.timeoutMs})\n` +
        (route.accept ? `        .accept(&[${route.accept.map((type) => JSON.stringify(type)).join(', ')}])\n` : ''),
    )
    .join('');
  return (
    `// Generated by rust-less for the app ${JSON.stringify(manifest.name)}: one registration per function in rustless.toml,\n` +
    `// then its routes, which the runner uses when it answers clients itself (a TCP socket, no gateway).\n` +
    `fn main() {\n` +
    `    rustless_runner::Runner::new()\n` +
    registrations +
    routes +
    `        .max_body_bytes(${manifest.maxBodyBytes})\n` +
    `        .run();\n` +
    `}\n`
  );
}

export function runnerCargoToml({ binaryName, app, userCrate, runnerDir }: { binaryName: string; app: string; userCrate: string; runnerDir: string }): string {
  const doc = {
    package: { name: binaryName, version: '0.0.0', edition: '2021', publish: false },
    dependencies: {
      user_app: { package: userCrate, path: 'app' },
      'rustless-runner': { path: join(runnerDir, 'rustless-runner') },
      rustless: { path: join(runnerDir, 'rustless') },
      // Not used by main.rs: it makes every app's serde the same as the shared dependencies'
      // (cargo unifies features), whether or not the app derives. Without it, an app that does
      // not derive would need its own serde, serde_json and runner crates, so the shared
      // dependencies would have to be built twice, once each way.
      serde: { version: '1', features: ['derive'] },
    },
    // Its own workspace root: a `[workspace]` further up the build directory never applies.
    workspace: {},
    profile: {
      release: {
        'opt-level': 3,
        // The runner catches panics per request; `abort` would take the whole app down.
        panic: 'unwind',
        // A Pi has few cores: a few units keep builds parallel without bloating the binary.
        'codegen-units': 4,
        debug: false,
        strip: 'debuginfo',
      },
    },
  };
  return `# Generated by rust-less for the app ${JSON.stringify(app)}; rebuilt from scratch on every deploy.\n${stringifyToml(doc)}\n`;
}

/**
 * The user's Cargo.toml, made to build inside the runner crate: every `rustless` dependency
 * points at this host's copy, and `[workspace]` goes (the runner crate is the root). Settings the
 * user inherited from that workspace are copied in first, so nothing they rely on is lost.
 */
export function rewriteUserCargoToml(toml: Table, runnerDir: string): string {
  const doc = structuredClone(toml);
  const workspace = own(doc, 'workspace');
  inheritFromWorkspace(doc, isTable(workspace) ? workspace : undefined);
  delete doc.workspace;
  // `package.workspace` points at a parent workspace that does not exist here.
  const pkg = own(doc, 'package');
  if (isTable(pkg)) delete pkg.workspace;

  const rustlessPath = join(resolve(runnerDir), 'rustless');
  const rewriteTables = (holder: Table): void => {
    for (const key of DEPENDENCY_TABLES) {
      const deps = own(holder, key);
      if (!isTable(deps)) continue;
      for (const [name, spec] of Object.entries(deps)) {
        const renamedFrom = isTable(spec) && typeof own(spec, 'package') === 'string' ? (own(spec, 'package') as string) : undefined;
        if ((renamedFrom ?? name) !== 'rustless') continue;
        Object.defineProperty(deps, name, { value: rustlessDependency(spec, rustlessPath), enumerable: true, writable: true, configurable: true });
      }
    }
  };
  rewriteTables(doc);
  const target = own(doc, 'target');
  if (isTable(target)) for (const platform of Object.values(target)) if (isTable(platform)) rewriteTables(platform);
  return `${stringifyToml(doc)}\n`;
}

/** `{ path = ... }`, keeping only what still means something for a path dependency. */
function rustlessDependency(spec: unknown, path: string): Table {
  const out: Table = { path };
  if (!isTable(spec)) return out;
  for (const key of ['package', 'features', 'default-features', 'default_features', 'optional']) {
    if (own(spec, key) !== undefined) out[key] = spec[key];
  }
  return out;
}

/** Resolves `x.workspace = true` in [package] and dependency tables against the crate's own [workspace]. */
function inheritFromWorkspace(doc: Table, workspace: Table | undefined): void {
  const fail = (what: string): never => {
    throw new RustlessError('RUSTLESS_INVALID_UPLOAD', `Cargo.toml: ${what} is inherited from a workspace (\`workspace = true\`), but the upload has no matching [workspace] entry; upload a crate that does not rely on a parent workspace`, {
      details: { file: 'Cargo.toml' },
    });
  };
  const wsPackage = workspace ? own(workspace, 'package') : undefined;
  const wsDeps = workspace ? own(workspace, 'dependencies') : undefined;
  const pkg = own(doc, 'package');
  if (isTable(pkg)) {
    for (const [key, value] of Object.entries(pkg)) {
      if (!isTable(value) || own(value, 'workspace') !== true) continue;
      const inherited = isTable(wsPackage) ? own(wsPackage, key) : undefined;
      if (inherited === undefined) fail(`\`package.${key}\``);
      // Defined, not assigned: a key named `__proto__` must stay a plain key.
      Object.defineProperty(pkg, key, { value: inherited, enumerable: true, writable: true, configurable: true });
    }
  }
  const resolveDeps = (holder: Table, where: string): void => {
    for (const table of DEPENDENCY_TABLES) {
      const deps = own(holder, table);
      if (!isTable(deps)) continue;
      for (const [name, spec] of Object.entries(deps)) {
        if (!isTable(spec) || own(spec, 'workspace') !== true) continue;
        const base = isTable(wsDeps) ? own(wsDeps, name) : undefined;
        if (base === undefined) fail(`\`${where}${table}.${name}\``);
        const { workspace: _inherited, features, ...local } = spec;
        const merged: Table = typeof base === 'string' ? { version: base } : { ...(base as Table) };
        // Cargo adds the member's features to the workspace's; everything else is the member's.
        if (Array.isArray(features)) merged.features = [...(Array.isArray(merged.features) ? merged.features : []), ...features];
        Object.defineProperty(deps, name, { value: { ...merged, ...local }, enumerable: true, writable: true, configurable: true });
      }
    }
  };
  resolveDeps(doc, '');
  const target = own(doc, 'target');
  if (isTable(target)) for (const [platform, holder] of Object.entries(target)) if (isTable(holder)) resolveDeps(holder, `target.${platform}.`);
}

/** rename, or copy then delete when the upload sits on another filesystem. */
async function move(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await cp(from, to, { recursive: true, errorOnExist: true, force: false });
    await rm(from, { recursive: true, force: true });
  }
}

/** `table[key]` if the TOML set it: never something inherited, such as `toString` or `constructor`. */
function own(table: Table, key: string): unknown {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}
