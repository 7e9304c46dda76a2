// The sd-notify binding, an optional dependency, made really present. When `npm ci` runs before
// libsystemd-dev is installed (the order a new user follows), its build fails and npm drops the
// package whole: node_modules/sd-notify does not exist, and `npm rebuild sd-notify` then
// "succeeds" doing nothing. This installs it again, alone, from the lockfile's exact version and
// integrity (npm ci in a scratch directory, where a failed build is an error and not a silent
// skip), moves it into PACKAGE/node_modules and loads it to prove it. npm start, npm test,
// install.mjs and scripts/sd-notify-binding.mjs use it.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const NAME = 'sd-notify';

/** True when `root` (a package directory) loads the built binding. */
export function bindingLoads(root) {
  try {
    // A fresh require per call: a failed require caches nothing.
    createRequire(path.join(root, 'package.json'))(NAME);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the binding loadable from `root`. Resolves with `{ ok, detail }`; `detail` says what was
 * done, or why the binding is not there and what to run. `log` gets one line before a build.
 */
export async function ensureBinding(root, { log = () => {}, env = process.env } = {}) {
  if (bindingLoads(root)) return { ok: true, detail: 'the sd-notify binding loads' };
  const headers = await run('pkg-config', ['--exists', 'libsystemd'], { env });
  if (headers.code !== 0) return { ok: false, detail: 'the sd-notify binding is not installed, and it cannot be built without libsystemd-dev: apt install libsystemd-dev, then run this again' };
  if ((await run('npm', ['--version'], { env })).code !== 0) return { ok: false, detail: 'the sd-notify binding is not installed, and npm is not on PATH to install it (apt install npm)' };

  const manifest = await scratchManifest(root);
  log(`the ${NAME} binding is missing (npm skips it when libsystemd-dev comes after npm ci): building ${manifest.spec}`);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-sd-notify-'));
  try {
    await fs.writeFile(path.join(scratch, 'package.json'), JSON.stringify(manifest.packageJson, null, 2));
    if (manifest.lock) await fs.writeFile(path.join(scratch, 'package-lock.json'), JSON.stringify(manifest.lock, null, 2));
    // --prefer-offline: the first npm ci left the tarball in npm's cache, so no network is needed.
    const args = [manifest.lock ? 'ci' : 'install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', '--loglevel=error'];
    const npm = await run('npm', args, { cwd: scratch, env });
    if (npm.code !== 0) return { ok: false, detail: `npm ${args.join(' ')} of ${manifest.spec} failed: ${summary(npm.output)}` };
    const modules = path.join(root, 'node_modules');
    await fs.mkdir(modules, { recursive: true });
    // The binding and whichever of its dependencies the package lacks (bindings is usually there).
    for (const entry of await fs.readdir(path.join(scratch, 'node_modules'))) {
      if (entry.startsWith('.')) continue;
      const target = path.join(modules, entry);
      if (entry !== NAME && (await exists(target))) continue;
      await fs.rm(target, { recursive: true, force: true });
      await fs.cp(path.join(scratch, 'node_modules', entry), target, { recursive: true, verbatimSymlinks: true });
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  if (!bindingLoads(root)) return { ok: false, detail: `${manifest.spec} was installed into ${root}/node_modules but does not load` };
  return { ok: true, detail: `built and installed ${manifest.spec}` };
}

/**
 * A scratch package that depends on the binding alone: pinned with the lockfile's own entries
 * (version and integrity, which npm ci checks) when `root` has a package-lock.json, else the
 * range package.json names (an installed package carries no lockfile).
 */
export async function scratchManifest(root) {
  const pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8'));
  const range = pkg.optionalDependencies?.[NAME] ?? pkg.dependencies?.[NAME];
  if (!range) throw new Error(`${root}/package.json does not depend on ${NAME}`);
  const lock = await fs.readFile(path.join(root, 'package-lock.json'), 'utf8').then(JSON.parse, () => undefined);
  const locked = lock?.packages?.[`node_modules/${NAME}`];
  if (!locked) return { spec: `${NAME}@${range}`, packageJson: { private: true, dependencies: { [NAME]: range } } };
  const packages = { '': { dependencies: { [NAME]: locked.version } } };
  for (const key of lockClosure(lock.packages, `node_modules/${NAME}`)) {
    // Not optional here: a failed build must fail npm ci, not be skipped again.
    const { optional, dev, devOptional, peer, ...entry } = lock.packages[key];
    packages[key] = entry;
  }
  return {
    spec: `${NAME}@${locked.version} (the lockfile's version and integrity)`,
    packageJson: { private: true, dependencies: { [NAME]: locked.version } },
    lock: { lockfileVersion: 3, requires: true, packages },
  };
}

/** The lock keys of `start` and of everything it depends on. */
function lockClosure(packages, start) {
  const seen = new Set();
  const visit = (key) => {
    if (seen.has(key)) return;
    seen.add(key);
    for (const dep of Object.keys(packages[key].dependencies ?? {})) {
      const found = resolveInLock(packages, key, dep);
      if (!found) throw new Error(`package-lock.json has no entry for ${dep}, a dependency of ${key}`);
      visit(found);
    }
  };
  visit(start);
  return [...seen];
}

/** Node's lookup in lock keys: `from`'s own node_modules, then each enclosing one, then the top. */
function resolveInLock(packages, from, dep) {
  let dir = from;
  for (;;) {
    if (packages[`${dir}/node_modules/${dep}`]) return `${dir}/node_modules/${dep}`;
    const cut = dir.lastIndexOf('/node_modules/');
    if (cut < 0) break;
    dir = dir.slice(0, cut);
  }
  return packages[`node_modules/${dep}`] ? `node_modules/${dep}` : undefined;
}

function run(command, args, { cwd, env }) {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 127) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** The lines of npm's output that say what went wrong (a compiler error, npm's code), else its end. */
function summary(text) {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  const telling = lines.filter((line) => /fatal error|\berror:|npm error code /.test(line)).slice(0, 3);
  return (telling.length ? telling : lines.slice(-4)).join(' | ');
}

async function exists(file) {
  return fs.access(file).then(() => true, () => false);
}
