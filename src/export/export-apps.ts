/**
 * `rustless export`: per app, the manifests a cluster needs and the image they name; then the
 * HTTPRoutes across the apps and a README with the commands that load and apply it all.
 * Everything comes from the gateway through the admin API (docs/admin-api.md): each app's
 * serving build and its manifest, and its image, streamed as an OCI archive or pushed by the
 * host. So it works from a laptop over ssh:// as it does on the host, with no access to the
 * host's files.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AdminClient } from '../admin/admin-client.js';
import { appSpec, type AppSpec } from './app-spec.js';
import { dataClaim } from './container.js';
import { deployment, service } from './deployment.js';
import type { ExportedApp, ExportKind } from './export-types.js';
import { httpRoutes } from './http-route.js';
import { KNATIVE_MAX_TIMEOUT_S, knativeService } from './knative.js';
import { noEgressPolicy } from './network-policy.js';
import { exportReadme } from './readme.js';
import { toYaml } from './yaml.js';
import { makeDirectory } from '../storage/make-directory.js';

export interface ExportOptions {
  client: AdminClient;
  apps: string[];
  outDir: string;
  kind: ExportKind;
  /** `REGISTRY/PREFIX`: the host pushes there; without it, OCI archives are saved beside the manifests. */
  registry?: string | undefined;
  namespace: string;
  gateway: { name: string; namespace?: string | undefined };
  hostname?: string | undefined;
  port?: number | undefined;
  /** Progress, one line at a time. */
  log(line: string): void;
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
  const warnings: string[] = [];
  const exported: ExportedApp[] = [];
  const specs: AppSpec[] = [];
  await makeDirectory(outDir);
  for (const name of options.apps) {
    const source = await options.client.exportSource(name);
    const appDir = join(outDir, name);
    await makeDirectory(appDir);

    let image = source.image;
    let archive: string | undefined;
    if (options.registry) {
      options.log(`${name}: the host pushes ${source.image} to ${options.registry}/${name}:${source.build}`);
      image = await options.client.pushImage(name, source.build, options.registry);
    } else {
      archive = join(appDir, 'image.tar');
      options.log(`${name}: ${source.image} -> ${archive}`);
      await options.client.saveImage(name, source.build, archive);
    }

    const spec = appSpec(source.manifest, { image, ...(options.port === undefined ? {} : { port: options.port }) });
    if (options.kind === 'knative' && spec.data) {
      warnings.push(`${name}: its data directory is a PersistentVolumeClaim; Knative mounts one only with the features kubernetes.podspec-persistent-volume-claim, kubernetes.podspec-persistent-volume-write and kubernetes.podspec-securitycontext enabled (config-features)`);
    }
    if (options.kind === 'knative' && spec.timeoutSeconds > KNATIVE_MAX_TIMEOUT_S) {
      warnings.push(`${name}: its longest route timeout is ${spec.timeoutSeconds} s, above Knative's default max-revision-timeout-seconds (${KNATIVE_MAX_TIMEOUT_S}); raise it in config-defaults`);
    }
    const files = await writeAppManifests(spec, appDir, options);
    exported.push({ name, build: source.build, image, architecture: source.architecture, ...(archive ? { archive } : {}), files: archive ? [...files, archive] : files });
    specs.push(spec);
  }

  const routeFile = join(outDir, 'httproute.yaml');
  await writeFile(routeFile, toYaml(httpRoutes(specs, { kind: options.kind, namespace: options.namespace, gateway: options.gateway, hostname: options.hostname })));
  const readmeFile = join(outDir, 'README.md');
  await writeFile(readmeFile, exportReadme({ kind: options.kind, namespace: options.namespace, apps: exported, specs, pushed: Boolean(options.registry) }));
  return { outDir, kind: options.kind, apps: exported, files: [...exported.flatMap((app) => app.files), routeFile, readmeFile], warnings };
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
