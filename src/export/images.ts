/**
 * The apps' images for a cluster: the systemd backend already built each one (`FROM scratch`,
 * the static runner only); the local backend built none, so one is built here the same way when
 * its runner is static. Then either pushed to a registry or saved as an OCI archive.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildArtifact } from '../backends/backend.js';
import { buildScratchImage, imageName, podman } from '../backends/systemd/podman.js';
import { RustlessError } from '../errors.js';

export interface ImageSource {
  app: string;
  buildId: number;
  artifact: BuildArtifact;
  /** Scratch space for building an image from a local build. */
  workDir: string;
}

/** The image of the build on this host, building it from a static local runner if need be. */
export async function localImage({ app, buildId, artifact, workDir }: ImageSource): Promise<string> {
  if (artifact.image) return artifact.image;
  if (!(await isStaticElf(artifact.binaryPath))) {
    throw new RustlessError(
      'RUSTLESS_BACKEND_FAILED',
      `app ${app} was built by the local backend: its runner (${artifact.binaryPath}) is linked dynamically against this machine's libc, so it cannot run in a FROM scratch image. ` +
        'Deploy the app to a gateway with the systemd backend (it builds a static runner and its image), then export it there.',
    );
  }
  const image = imageName(app, buildId);
  await buildScratchImage({ binaryPath: artifact.binaryPath, contextDir: join(workDir, `${app}-image`), image, app, buildId });
  return image;
}

/** Tags `image` as `<registry>/<app>:<buildId>` and pushes it; returns the pushed name. */
export async function pushImage(image: string, registry: string, app: string, buildId: number): Promise<string> {
  const target = `${registry.replace(/\/+$/, '')}/${app}:${buildId}`;
  await podman(['tag', image, target]);
  await podman(['push', target]);
  return target;
}

/** Saves `image` as an OCI archive at `file` (absolute). */
export async function saveImage(image: string, file: string): Promise<void> {
  await podman(['save', '--format', 'oci-archive', '--output', file, image]);
}

/** The CPU architecture the image was built for (`arm64`, `amd64`). */
export async function imageArchitecture(image: string): Promise<string> {
  return (await podman(['image', 'inspect', '--format', '{{.Architecture}}', image])).trim();
}

/** True for an ELF executable without a program interpreter (PT_INTERP): a static binary. */
export async function isStaticElf(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = header[4] === 2;
    const little = header[5] === 1;
    const u16 = (b: Buffer, at: number): number => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const u32 = (b: Buffer, at: number): number => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const phoff = is64 ? Number(little ? header.readBigUInt64LE(0x20) : header.readBigUInt64BE(0x20)) : u32(header, 0x1c);
    const phentsize = u16(header, is64 ? 0x36 : 0x2a);
    const phnum = u16(header, is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    const PT_INTERP = 3;
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === PT_INTERP) return false;
    return true;
  } finally {
    await file.close();
  }
}
