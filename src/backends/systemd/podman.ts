/**
 * Podman for the systemd backend: wraps a static runner binary in a `FROM scratch` image, and
 * removes an app's images when the app goes. Podman runs in a transient unit of its own
 * (`systemd-run --pipe`), outside the gateway's sandbox: the gateway then needs no write
 * access to Podman's storage, nor the right to mount.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './systemctl.js';
import { makeDirectory } from '../../storage/make-directory.js';

/** Podman's image store (rootful, the default graphroot): synced after each image build. */
export const IMAGE_STORE = '/var/lib/containers/storage';

/** The repository all of an app's images are tagged in; the tag is the build id. */
export function imageRepository(app: string): string {
  return `localhost/rustless-fn-${app}`;
}

export function imageName(app: string, buildId: number): string {
  return `${imageRepository(app)}:${buildId}`;
}

/** Builds `image` holding only `binaryPath` as `/runner`, in `contextDir`. */
export async function buildScratchImage({ binaryPath, contextDir, image, app, buildId }: { binaryPath: string; contextDir: string; image: string; app: string; buildId: number }): Promise<void> {
  await makeDirectory(contextDir);
  await copyFile(binaryPath, join(contextDir, 'runner'));
  await writeFile(
    join(contextDir, 'Containerfile'),
    [
      '# The runner is statically linked: it needs nothing else, not even libc.',
      'FROM scratch',
      'COPY runner /runner',
      `LABEL io.rustless.app=${JSON.stringify(app)} io.rustless.build="${buildId}"`,
      'ENTRYPOINT ["/runner"]',
      '',
    ].join('\n'),
  );
  await podman(['build', '--quiet', '--pull=never', '--network=none', '--tag', image, '--file', join(contextDir, 'Containerfile'), contextDir]);
}

/** The app's images (`localhost/rustless-fn-<app>:<buildId>`), one per kept build. */
export async function listImages(app: string): Promise<string[]> {
  const listed = await podman(['images', '--noheading', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${imageRepository(app)}`]);
  return listed.split('\n').map((line) => line.trim()).filter(Boolean);
}

/** Removes the given images, or every image of the app; an image still in use by a container is forced out. */
export async function removeImages(app: string, images?: readonly string[]): Promise<void> {
  const doomed = images ?? (await listImages(app));
  if (doomed.length > 0) await podman(['rmi', '--force', '--ignore', ...doomed]);
}

/** Runs `podman ARGS` in a transient unit; resolves its stdout. */
export function podman(args: readonly string[]): Promise<string> {
  return run('systemd-run', ['--pipe', '--wait', '--collect', '--quiet', `--description=rust-less: podman ${args[0] ?? ''}`, '--', 'podman', ...args]);
}
