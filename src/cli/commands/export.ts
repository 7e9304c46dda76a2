/** `rustless export APP...`: the apps as Knative Services (or Deployments) with their images and routes, all through the admin API. */
import { exportApps } from '../../export/export-apps.js';
import type { ExportKind } from '../../export/export-types.js';
import type { CommandContext, Flags } from '../command.js';
import { printJson, UsageError } from '../output.js';

export async function exportCommand({ client, positionals, flags }: CommandContext): Promise<number> {
  if (positionals.length === 0) throw new UsageError('name at least one app to export: rustless export APP...');
  const kind = (stringFlag(flags, 'kind') ?? 'knative') as ExportKind;
  if (kind !== 'knative' && kind !== 'deployment') throw new UsageError(`--kind must be knative or deployment, got ${JSON.stringify(kind)}`);
  const namespace = stringFlag(flags, 'namespace') ?? 'default';
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new UsageError(`--namespace must be a Kubernetes namespace name (lowercase letters, digits, -), got ${JSON.stringify(namespace)}`);
  const gatewayFlag = stringFlag(flags, 'gateway') ?? 'rustless';
  const [gatewayNamespace, gatewayName] = gatewayFlag.includes('/') ? gatewayFlag.split('/', 2) : [undefined, gatewayFlag];
  if (!gatewayName) throw new UsageError(`--gateway must be NAME or NAMESPACE/NAME, got ${JSON.stringify(gatewayFlag)}`);
  const portText = stringFlag(flags, 'port');
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new UsageError(`--port must be a port number from 1 to 65535, got ${JSON.stringify(portText)}`);
  const registry = stringFlag(flags, 'registry');
  if (registry !== undefined && !/^[^\s/]+(\/[^\s/]+)*$/.test(registry)) throw new UsageError(`--registry must be REGISTRY/PREFIX such as registry.example:5000/apps, got ${JSON.stringify(registry)}`);

  const admin = await client();
  const json = Boolean(flags.json);
  const result = await exportApps({
    client: admin,
    apps: positionals,
    outDir: stringFlag(flags, 'out') ?? 'rustless-export',
    kind,
    registry,
    namespace,
    gateway: { name: gatewayName, namespace: gatewayNamespace },
    hostname: stringFlag(flags, 'hostname'),
    port,
    log: (line) => {
      if (!json) process.stderr.write(`${line}\n`);
    },
  });
  if (json) {
    printJson(result);
    return 0;
  }
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
  process.stderr.write(`exported ${result.apps.map((app) => `${app.name} (build #${app.build}, ${app.architecture})`).join(', ')} to ${result.outDir}; next steps in ${result.outDir}/README.md\n`);
  return 0;
}

function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}
