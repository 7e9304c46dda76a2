/** `rustless deploy DIR`: validate locally, upload, follow the build, exit non-zero on failure. */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { packCrate } from '../../builder/pack.js';
import { inspectUserCrate } from '../../builder/runner-crate.js';
import { loadManifest } from '../../manifest/manifest.js';
import type { CommandContext } from '../command.js';
import { BuildStatusLine } from '../build-status-line.js';
import { printJson, UsageError } from '../output.js';

export async function deploy({ client, positionals, flags }: CommandContext): Promise<number> {
  const dir = resolve(positionals[0]!);
  const manifest = await loadManifest(dir, await crateName(dir));
  const archive = await packCrate(dir);
  const admin = await client();
  const build = await admin.upload(archive);
  const json = Boolean(flags.json);
  if (!json) process.stderr.write(`deploying ${manifest.name} from ${dir}: build #${build.id}\n`);
  if (flags['no-wait']) {
    if (json) printJson(build);
    return 0;
  }
  const status = new BuildStatusLine(process.stderr);
  try {
    for await (const event of admin.buildEvents(build.id)) {
      if (json) continue;
      if (event.type === 'status' && event.status === 'building') status.start();
      else if (event.type === 'progress') status.progress(event.done, event.total, event.compiled ?? 0);
      else if (event.type === 'line' && flags.verbose) status.print(event.text);
      else if (event.type === 'done') {
        status.end();
        if (event.status === 'failed') process.stderr.write(`build #${build.id} of ${manifest.name} failed:\n${event.error ?? ''}\n`);
      }
    }
  } finally {
    status.end();
  }
  const finished = await admin.build(build.id);
  if (json) printJson(finished);
  else if (finished.status === 'succeeded') {
    process.stderr.write(`${manifest.name} is live (build #${finished.id}):\n`);
    for (const route of finished.routes) process.stderr.write(`  ${route.methods.join(',').padEnd(6)} ${route.path} -> ${route.function}${route.fallback ? ' (fallback)' : ''}\n`);
    for (const missing of (await admin.secrets(manifest.name)).filter((s) => s.declared && !s.set)) {
      process.stderr.write(`warning: ${manifest.name} declares secret ${missing.name}, which is not set: rustless secret set ${manifest.name} ${missing.name}\n`);
    }
  }
  return finished.status === 'succeeded' ? 0 : 1;
}

/** The crate's name, checked the way the gateway will check it, before anything is uploaded. */
async function crateName(dir: string): Promise<string> {
  await access(`${dir}/Cargo.toml`).catch(() => {
    throw new UsageError(`${dir} is not a crate: it has no Cargo.toml`);
  });
  return (await inspectUserCrate(dir)).name;
}
