/**
 * The apps' images for a cluster, on the gateway's host: the systemd backend already built each
 * one (`FROM scratch`, the static runner only); the local backend built none, so one is built
 * here the same way when its runner is static. The admin API then streams it as an OCI archive
 * or pushes it to a registry (docs/admin-api.md): only images of builds of a named app.
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { BuildArtifact } from '../backends/backend.js';
import { buildScratchImage, imageName, podman } from '../backends/systemd/podman.js';
import { RustlessError } from '../errors.js';

/** The image of a build on this host, building it from a static local runner if need be. */
export async function localImage(app: string, buildId: number, artifact: BuildArtifact): Promise<string> {
  if (artifact.image) return artifact.image;
  if (!(await isStaticElf(artifact.binaryPath))) {
    throw new RustlessError(
      'RUSTLESS_NOT_EXPORTABLE',
      `app ${app} was built by the local backend: its runner is linked dynamically against the host's libc, so it cannot run in a FROM scratch image. ` +
        'Deploy the app to a gateway with the systemd backend (it builds a static runner and its image), then export it there.',
    );
  }
  const image = imageName(app, buildId);
  const exists = await podman(['image', 'exists', image]).then(
    () => true,
    () => false,
  );
  // Beside the build's runner: a directory of the gateway's that Podman's own unit can read.
  if (!exists) await buildScratchImage({ binaryPath: artifact.binaryPath, contextDir: join(dirname(artifact.binaryPath), 'image'), image, app, buildId });
  return image;
}

/** Tags `image` as `<registry>/<app>:<buildId>` and pushes it with the host's credentials; returns the pushed name. */
export async function pushImage(image: string, registry: string, app: string, buildId: number): Promise<string> {
  const target = `${registry.replace(/\/+$/, '')}/${app}:${buildId}`;
  await podman(['tag', image, target]);
  await podman(['push', target]);
  return target;
}

/**
 * Writes `image` as an OCI archive into `out` as Podman produces it (nothing is kept on the
 * host). Resolves once Podman exited well; rejects with its words otherwise, by when part of
 * the archive may already be written: the caller must then break the stream off.
 */
export function saveImage(image: string, out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    // As podman() runs it: in a unit of its own, outside the gateway's sandbox.
    const child = spawn('systemd-run', ['--pipe', '--wait', '--collect', '--quiet', '--description=rust-less: podman save', '--', 'podman', 'save', '--format', 'oci-archive', image], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
    child.stdout.pipe(out, { end: false });
    // The reader went away (the client's connection closed): Podman's work is for nothing.
    const abandon = (): void => void child.kill('SIGTERM');
    out.once('close', abandon);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      out.removeListener('close', abandon);
      if (code === 0) resolve();
      else reject(new RustlessError('RUSTLESS_BACKEND_FAILED', `podman save ${image} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
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
