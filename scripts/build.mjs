#!/usr/bin/env node
// Builds dist/: tsc compiles src/, then esbuild puts the TUI and what it imports from
// node_modules (Ink, React, yoga) into one file, dist/tui/run-tui.bundle.js, which
// src/cli/main.ts loads. Why: Ink imports one function from es-toolkit's `compat` entry, which
// loads all 415 of its modules; unbundled, the TUI carried them for its whole life (x86: a
// 129 MiB TUI, 112 without undici, 96 bundled). The bundle keeps only what is used, and React's
// production build. The TUI's imports from the rest of src/ (the admin client, errors, API
// types) stay ordinary imports of dist/, so the CLI and the TUI share one copy of each.
//
// esbuild-wasm, not esbuild: the same package on every architecture, with no binary to fetch
// per platform, so an arm64 checkout builds from an npm cache copied from an x86 machine.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tuiDir = path.join(root, 'dist', 'tui');

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });

const esbuild = await import('esbuild-wasm');

/** Imports that leave dist/tui/ stay imports, written relative to the bundle. */
const keepOutsideTui = {
  name: 'keep-outside-tui',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(tuiDir + path.sep)) return undefined;
      const target = path.resolve(args.resolveDir, args.path);
      if (target.startsWith(tuiDir + path.sep)) return undefined;
      const relative = path.relative(tuiDir, target);
      return { path: relative.startsWith('.') ? relative : `./${relative}`, external: true };
    });
  },
};

/**
 * Ink imports its devtools (react-devtools-core, not a dependency) only when DEV=true, and says
 * so when they are missing. In the bundle they are missing by design: the same message, not a
 * crash on a static import of a package nobody installed.
 */
const withoutInkDevtools = {
  name: 'without-ink-devtools',
  setup(build) {
    build.onResolve({ filter: /^\.\/devtools\.js$/ }, (args) => (args.importer.includes(`${path.sep}ink${path.sep}`) ? { path: 'ink-devtools', namespace: 'left-out' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({
      contents: "throw Object.assign(new Error('React devtools are left out of the rust-less TUI bundle'), { code: 'ERR_MODULE_NOT_FOUND' });",
    }));
  },
};

await esbuild.build({
  entryPoints: [path.join(tuiDir, 'run-tui.js')],
  outfile: path.join(tuiDir, 'run-tui.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // React's CommonJS modules call require() for node's own modules; ESM has none of its own.
  banner: { js: "import { createRequire as rustlessCreateRequire } from 'node:module'; const require = rustlessCreateRequire(import.meta.url);" },
  define: { 'process.env.NODE_ENV': '"production"' },
  // Left to load from node_modules when used: undici on the first request sent (tui/invoke.ts),
  // smol-toml as the CLI's own copy.
  external: ['undici', 'smol-toml'],
  plugins: [keepOutsideTui, withoutInkDevtools],
  logLevel: 'warning',
});
// esbuild-wasm runs a service; stopped, the process ends without it writing to a closed pipe.
await esbuild.stop();
