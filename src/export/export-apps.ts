/**
 * `rustless export`: per app, the manifests a cluster needs and the image they name; then the
 * HTTPRoutes across the apps and a README with the commands that load and apply it all.
 * What the gateway serves comes from the admin API (apps, their serving build); the build's
 * manifest and artifact (image, binary) from the registry on the same host.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AdminClient } from '../admin/admin-client.js';
import type { BuildArtifact } from '../backends/backend.js';
import { RustlessError } from '../errors.js';
import { Registry } from '../registry/registry.js';
import { appSpec, type AppSpec } from './app-spec.js';
import { dataClaim } from './container.js';
import { deployment, service } from './deployment.js';
import { httpRoutes } from './http-route.js';
import { imageArchitecture, localImage, pushImage, saveImage } from './images.js';
import { KNATIVE_MAX_TIMEOUT_S, knativeService } from './knative.js';
import { noEgressPolicy } from './network-policy.js';
import { exportReadme } from './readme.js';
import { toYaml } from './yaml.js';

export type ExportKind = 'knative' | 'deployment';

export interface ExportOptions {
  client: AdminClient;
  apps: string[];
  outDir: string;
  kind: ExportKind;
  /** `REGISTRY/PREFIX`: push there; without it, save OCI archives beside the manifests. */
  registry?: string | undefined;
  namespace: string;
  gateway: { name: string; namespace?: string | undefined };
  hostname?: string | undefined;
  port?: number | undefined;
  /** The gateway's state directory, which holds the registry. */
  stateDir: string;
  /** Progress, one line at a time. */
  log(line: string): void;
}

export interface ExportedApp {
  name: string;
  build: number;
  image: string;
  architecture: string;
  /** Set when the image was saved rather than pushed. */
  archive?: string;
  files: string[];
}

export interface ExportResult {
  outDir: string;
  kind: ExportKind;
  apps: ExportedApp[];
  files: string[];
  warnings: string[];
}

export async function exportApps(options: ExportOptions): Promise<ExportResult> {
  const outDir = resolve(options.outDir);
  const dbFile = join(options.stateDir, 'rustless.db');
  if (!existsSync(dbFile)) {
    throw new RustlessError('RUSTLESS_BACKEND_FAILED', `no registry at ${dbFile}: run export on the gateway's host, as a user who can read its state directory (or name it with --state-dir)`);
  }
  const registry = new Registry(dbFile, { readonly: true });
  const workDir = await mkdtemp(join(tmpdir(), 'rustless-export-'));
  const warnings: string[] = [];
  const exported: ExportedApp[] = [];
  const specs: AppSpec[] = [];
  try {
    await mkdir(outDir, { recursive: true });
    for (const name of options.apps) {
      const detail = await options.client.app(name);
      if (detail.currentBuild === null) throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `app ${name} has no build that serves: deploy it first`);
      const build = registry.requireBuild(detail.currentBuild);
      const artifact = build.artifact as BuildArtifact;
      const appDir = join(outDir, name);
      await mkdir(appDir, { recursive: true });

      const local = await localImage({ app: name, buildId: build.id, artifact, workDir });
      const architecture = await imageArchitecture(local);
      let image = local;
      let archive: string | undefined;
      if (options.registry) {
        options.log(`${name}: podman push ${options.registry}/${name}:${build.id}`);
        image = await pushImage(local, options.registry, name, build.id);
      } else {
        archive = join(appDir, 'image.tar');
        options.log(`${name}: podman save ${local} -> ${archive}`);
        await saveImage(local, archive);
      }

      const spec = appSpec(build.manifest, { image, ...(options.port === undefined ? {} : { port: options.port }) });
      if (options.kind === 'knative' && spec.data) {
        warnings.push(`${name}: its data directory is a PersistentVolumeClaim; Knative mounts one only with the features kubernetes.podspec-persistent-volume-claim, kubernetes.podspec-persistent-volume-write and kubernetes.podspec-securitycontext enabled (config-features)`);
      }
      if (options.kind === 'knative' && spec.timeoutSeconds > KNATIVE_MAX_TIMEOUT_S) {
        warnings.push(`${name}: its longest route timeout is ${spec.timeoutSeconds} s, above Knative's default max-revision-timeout-seconds (${KNATIVE_MAX_TIMEOUT_S}); raise it in config-defaults`);
      }
      const files = await writeAppManifests(spec, appDir, options);
      exported.push({ name, build: build.id, image, architecture, ...(archive ? { archive } : {}), files: archive ? [...files, archive] : files });
      specs.push(spec);
    }

    const routeFile = join(outDir, 'httproute.yaml');
    await writeFile(routeFile, toYaml(httpRoutes(specs, { kind: options.kind, namespace: options.namespace, gateway: options.gateway, hostname: options.hostname })));
    const readmeFile = join(outDir, 'README.md');
    await writeFile(readmeFile, exportReadme({ kind: options.kind, namespace: options.namespace, apps: exported, specs, pushed: Boolean(options.registry) }));
    return { outDir, kind: options.kind, apps: exported, files: [...exported.flatMap((app) => app.files), routeFile, readmeFile], warnings };
  } finally {
    registry.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

async function writeAppManifests(spec: AppSpec, appDir: string, options: ExportOptions): Promise<string[]> {
  const files: string[] = [];
  const write = async (file: string, docs: Parameters<typeof toYaml>[0]): Promise<void> => {
    await writeFile(join(appDir, file), toYaml(docs));
    files.push(join(appDir, file));
  };
  if (options.kind === 'knative') await write('knative-service.yaml', [knativeService(spec, options.namespace)]);
  else await write('deployment.yaml', [deployment(spec, options.namespace), service(spec, options.namespace)]);
  // Apart from the workload: `podman kube play` and other engines that take Deployments know no NetworkPolicy.
  if (!spec.network) await write('network-policy.yaml', [noEgressPolicy(spec, options.namespace)]);
  // Apart too: deleting the workload must not delete the data.
  if (spec.data) await write('data-claim.yaml', [dataClaim(spec, options.namespace)]);
  return files;
}
