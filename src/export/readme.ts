/** The README written beside exported manifests: what is there and the commands that use it. */
import type { AppSpec } from './app-spec.js';
import { DATA_CLAIM_SIZE, dataClaimName, secretName } from './container.js';
import type { ExportedApp, ExportKind } from './export-types.js';

export function exportReadme({ kind, namespace, apps, specs, pushed }: { kind: ExportKind; namespace: string; apps: ExportedApp[]; specs: AppSpec[]; pushed: boolean }): string {
  const lines: string[] = [];
  const names = apps.map((app) => app.name).join(', ');
  lines.push(`# rust-less export: ${names}`, '');
  lines.push(`${kind === 'knative' ? 'Knative Services' : 'Deployments + Services'} in namespace \`${namespace}\`, and \`httproute.yaml\` (Gateway API) routing every app's paths on one host name.`, '');
  lines.push('| app | build | image | built for |', '| --- | --- | --- | --- |');
  for (const app of apps) lines.push(`| ${app.name} | #${app.build} | \`${app.image}\` | ${app.architecture} |`);
  lines.push('');

  lines.push('## 1. Images', '');
  if (pushed) {
    lines.push('Pushed to the registry named in the manifests; the cluster pulls them from there.', '');
  } else {
    lines.push('Saved as OCI archives beside the manifests. Load each one where the cluster runs:', '', '```sh');
    for (const app of apps) lines.push(`sudo k3s ctr images import ${app.name}/image.tar   # k3s, on every node`);
    lines.push('# or: podman load -i APP/image.tar   |   kind load image-archive APP/image.tar', '```', '');
    if (kind === 'knative') {
      lines.push(
        'Knative resolves image tags to digests through a registry; for `localhost/...` images loaded from an archive, add `localhost` to',
        '`registries-skipping-tag-resolving` in the `config-deployment` ConfigMap of `knative-serving`, or export with `--registry`.',
        '',
      );
    }
  }
  const arches = [...new Set(apps.map((app) => app.architecture))].join(', ');
  lines.push(
    `The images hold the runner built for ${arches}, the architecture of the host that built them. For nodes of another`,
    'architecture, deploy the app to a rust-less host of that architecture (a Pi for arm64, any x86-64 machine for amd64) and',
    'export it from there: the runner is compiled natively, with no cross toolchain.',
    '',
  );

  const withSecrets = specs.filter((spec) => spec.secrets.length > 0);
  if (withSecrets.length > 0) {
    lines.push('## 2. Secrets', '', 'The manifests refer to these Secrets; their values never leave the host. Create them first:', '', '```sh');
    for (const spec of withSecrets) {
      lines.push(`kubectl -n ${namespace} create secret generic ${secretName(spec)} ${spec.secrets.map((name) => `--from-literal=${name}=...`).join(' ')}`);
    }
    lines.push('```', '');
  }

  const withData = specs.filter((spec) => spec.data);
  if (withData.length > 0) {
    lines.push(
      `Apps with a data directory (${withData.map((spec) => spec.name).join(', ')}) get a PersistentVolumeClaim \`<app>-data\` of ${DATA_CLAIM_SIZE} (\`<app>/data-claim.yaml\`, e.g. \`${dataClaimName(withData[0]!)}\`),`,
      'ReadWriteOnce, so one pod at a time. The data on the Pi stays there: copy it into the volume if the app needs it.',
      '',
    );
  }

  lines.push(`## ${withSecrets.length > 0 ? 3 : 2}. Apply`, '', '```sh');
  for (const app of apps) lines.push(`kubectl apply -f ${app.name}/`);
  lines.push('kubectl apply -f httproute.yaml', '```', '');
  lines.push('The HTTPRoute attaches to a Gateway you already run (its name is in `parentRefs`); see docs/cluster.md in rust-less.', '');
  return `${lines.join('\n')}`;
}
