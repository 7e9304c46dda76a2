/**
 * The crates that runner/'s own manifests depend on, and the Debian packages that put them in
 * the Debian crate registry. `rustless doctor`, scripts/packages/crates.txt and the test host
 * all follow from this, so a crate the runner stops (or starts) using changes all of them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { debianPackageFor } from '../cargo/crate-names.js';

export interface RunnerCrate {
  /** The crate's name as in Cargo.toml and in the registry's `<name>-<version>` directories. */
  crate: string;
  /** The Debian package that ships it: `librust-<name, _ as ->-dev`. */
  debianPackage: string;
}

/** Crates that a dependency's feature pulls in as crates of their own (`serde/derive`). */
const FEATURE_CRATES: Record<string, Record<string, string>> = { serde: { derive: 'serde_derive' } };
const DEPENDENCY_TABLES = ['dependencies', 'dev-dependencies', 'build-dependencies'];

/**
 * The registry crates named in runner/'s manifests (the crates, the runner, the examples),
 * sorted; path dependencies (the workspace's own crates) are left out.
 */
export async function runnerCrates(runnerDir: string): Promise<RunnerCrate[]> {
  const names = new Set<string>();
  for (const manifest of await runnerManifests(runnerDir)) {
    const toml = parse(await readFile(manifest, 'utf8')) as Record<string, unknown>;
    for (const table of DEPENDENCY_TABLES) {
      for (const [name, value] of Object.entries((toml[table] ?? {}) as Record<string, unknown>)) {
        // A dependency is `"1.0"` or a table `{ version, path, package, features }`.
        const spec = (typeof value === 'object' && value !== null ? value : {}) as { path?: unknown; package?: unknown; features?: unknown };
        if (spec.path !== undefined) continue;
        const crate = typeof spec.package === 'string' ? spec.package : name;
        names.add(crate);
        for (const feature of Array.isArray(spec.features) ? spec.features : []) {
          const extra = FEATURE_CRATES[crate]?.[feature];
          if (extra) names.add(extra);
        }
      }
    }
  }
  return [...names].sort().map((crate) => ({ crate, debianPackage: debianPackageFor(crate) }));
}

/** runner/*\/Cargo.toml and runner/examples/*\/Cargo.toml. */
async function runnerManifests(runnerDir: string): Promise<string[]> {
  const manifests: string[] = [];
  for (const dir of [runnerDir, join(runnerDir, 'examples')]) {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name === 'target' || entry.name === 'examples') continue;
      const manifest = join(dir, entry.name, 'Cargo.toml');
      if (await readFile(manifest).then(() => true, () => false)) manifests.push(manifest);
    }
  }
  return manifests.sort();
}
