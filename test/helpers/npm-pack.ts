/** The package as it would be published: `npm pack` of this checkout. */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * `npm pack` of the checkout at `root` into the new directory `dest`; returns the tarball's path.
 * dist/ must be built already: pack's `prepare` would only build it again.
 */
export async function npmPack(root: string, dest: string): Promise<string> {
  await mkdir(dest);
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', dest], { cwd: root, reject: false, all: true, env: { ...process.env, NODE_OPTIONS: '' } });
  if (packed.exitCode !== 0) throw new Error(`npm pack exited ${packed.exitCode}:\n${packed.all}`);
  const files = await readdir(dest);
  if (files.length !== 1 || !files[0]!.endsWith('.tgz')) throw new Error(`npm pack left ${JSON.stringify(files)} in ${dest}, not one tarball`);
  return join(dest, files[0]!);
}
