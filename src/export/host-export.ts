/**
 * The gateway's side of `rustless export`, behind the admin API: an app's build as the client
 * writes manifests from it, and its image, streamed as an OCI archive or pushed by the host.
 * A client gets exactly what the admin API grants: builds of the apps it names, nothing else
 * of the host's registry or Podman's storage.
 */
import type { ServerResponse } from 'node:http';
import type { ExportSource } from '../api/types.js';
import type { BuildArtifact } from '../backends/backend.js';
import { RustlessError } from '../errors.js';
import type { BuildRecord } from '../registry/registry.js';
import { imageArchitecture, localImage, pushImage, saveImage } from './images.js';

/** `REGISTRY[:PORT]/PREFIX...`: no spaces, no empty segments. */
const REGISTRY = /^[^\s/]+(\/[^\s/]+)*$/;

export function checkRegistry(registry: unknown): string {
  if (typeof registry !== 'string' || !REGISTRY.test(registry)) {
    throw new RustlessError('RUSTLESS_BAD_REQUEST', `\`registry\` must be REGISTRY/PREFIX such as registry.example:5000/apps, got ${JSON.stringify(registry)}`);
  }
  return registry;
}

export async function exportSource(build: BuildRecord): Promise<ExportSource> {
  const image = await localImage(build.app, build.id, build.artifact as BuildArtifact);
  return { app: build.app, build: build.id, manifest: build.manifest, image, architecture: await imageArchitecture(image) };
}

/** Answers with the build's image as an OCI archive; a failure midway breaks the response off. */
export async function sendImage(build: BuildRecord, res: ServerResponse): Promise<void> {
  const image = await localImage(build.app, build.id, build.artifact as BuildArtifact);
  res.writeHead(200, {
    'content-type': 'application/x-tar',
    'content-disposition': `attachment; filename="${build.app}-${build.id}.oci.tar"`,
    'x-rustless-image': image,
  });
  try {
    await saveImage(image, res);
  } catch (error) {
    // The status is out: only a broken-off body tells the client the archive is not whole.
    res.destroy(error as Error);
    return;
  }
  res.end();
}

export async function pushBuildImage(build: BuildRecord, registry: string): Promise<string> {
  return pushImage(await localImage(build.app, build.id, build.artifact as BuildArtifact), registry, build.app, build.id);
}
