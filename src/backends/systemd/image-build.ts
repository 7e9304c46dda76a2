/**
 * The systemd backend's build: the runner crate compiled in a sandbox unit (sandboxed-build.ts),
 * then a `FROM scratch` image of the binary, on the disk before the build counts as done. It
 * runs in a child process of the gateway (build-process.ts), so it is a function of the job and
 * these options alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildArtifact, BuildJob, BuildOutput } from '../backend.js';
import { syncFilesystems } from '../../storage/durable-file.js';
import { buildScratchImage, IMAGE_STORE, imageName } from './podman.js';
import { sandboxedBuild, type BuildLimits } from './sandboxed-build.js';

export interface ImageBuildOptions {
  /** `/var/lib/rustless`. */
  stateDir: string;
  limits: BuildLimits;
  /** Whether MemoryMax= holds here (the build log says when it does not). */
  memoryEnforced: boolean;
  signal?: AbortSignal;
}

export async function buildImage(job: BuildJob, output: BuildOutput, { stateDir, limits, memoryEnforced, signal }: ImageBuildOptions): Promise<BuildArtifact> {
  const binaryPath = await sandboxedBuild(job, output, { stateDir, limits, memoryEnforced, signal });
  const image = imageName(job.app, job.buildId);
  output.line(`rustless: podman build ${image} (FROM scratch, the runner only)`);
  await buildScratchImage({ binaryPath, contextDir: join(job.buildDir, 'image'), image, app: job.app, buildId: job.buildId });
  // The image's layers on the disk before the build can be reported live (builder.ts syncs the binary).
  await syncFilesystems([IMAGE_STORE].filter((dir) => existsSync(dir)));
  return { binaryPath, image };
}
