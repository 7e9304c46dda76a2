/**
 * Podman's image store after an unclean stop. Its storage is known to break on power loss
 * ("layer not known", "top layer not found in layer tree" in Podman's issues, with `podman
 * system reset` as the way out). rust-less keeps every serving build's static runner binary
 * beside its image, and an image is nothing but that binary `FROM scratch`, so it can always
 * make a lost or damaged image again, and no person ever has to.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LiveBuild } from '../backend.js';
import { syncFilesystems } from '../../storage/durable-file.js';
import { buildScratchImage, IMAGE_STORE, podman } from './podman.js';

/**
 * After an unclean stop, `podman system check --repair --force` (damaged images are removed);
 * then every live build's image is made again from its runner binary where it is missing. When
 * Podman cannot even list its images, its storage is reset first: rust-less can rebuild all of
 * its own images, and the apps' Podman secrets are made again from rust-less's store at install.
 */
export async function repairImages(live: readonly LiveBuild[], { unclean }: { unclean: boolean }): Promise<string[]> {
  const done: string[] = [];
  if (unclean) {
    try {
      const report = (await podman(['system', 'check', '--repair', '--force'])).trim();
      if (report !== '') done.push(`podman system check --repair: ${checkSummary(report)}`);
    } catch (error) {
      done.push(`podman system check --repair failed: ${oneLine((error as Error).message)}`);
    }
  }
  let images: Set<string>;
  try {
    images = await allImages();
  } catch (error) {
    await podman(['system', 'reset', '--force']);
    done.push(`Podman could not list its images (${oneLine((error as Error).message)}): its storage was reset (podman system reset --force)`);
    images = await allImages();
  }
  let rebuilt = 0;
  for (const { app, buildId, artifact } of live) {
    if (!artifact.image || images.has(artifact.image)) continue;
    if (!existsSync(artifact.binaryPath)) {
      done.push(`app ${app}: the image of build #${buildId} and its runner ${artifact.binaryPath} are both gone: deploy it again`);
      continue;
    }
    await buildScratchImage({ binaryPath: artifact.binaryPath, contextDir: join(dirname(artifact.binaryPath), 'image'), image: artifact.image, app, buildId });
    done.push(`image ${artifact.image} made again from build #${buildId}'s runner`);
    rebuilt++;
  }
  if (rebuilt > 0 && existsSync(IMAGE_STORE)) await syncFilesystems([IMAGE_STORE]);
  return done;
}

/** Every image Podman lists, as `repository:tag`. */
async function allImages(): Promise<Set<string>> {
  const listed = await podman(['images', '--noheading', '--format', '{{.Repository}}:{{.Tag}}']);
  return new Set(listed.split('\n').map((line) => line.trim()).filter(Boolean));
}

/**
 * `podman system check` prints a line per damaged or removed layer, image or container
 * ("Damaged layer <id>:"), each followed by indented reasons: the recovery line keeps those
 * lines, ids cut to 12 characters, so that it says what was damaged and what was removed.
 */
export function checkSummary(report: string): string {
  const heads = report
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^\s/.test(line))
    .map((line) => line.trim().replace(/:$/, '').replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, '$1'));
  if (heads.length === 0) return oneLine(report);
  return heads.length <= 6 ? heads.join(', ') : `${heads.slice(0, 6).join(', ')} (and ${heads.length - 6} more)`;
}

function oneLine(text: string): string {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.length <= 1 ? (lines[0] ?? '') : `${lines[0]} (and ${lines.length - 1} more lines)`;
}
