#!/usr/bin/env node
/**
 * The `rustless` command. With no arguments in a terminal it opens the TUI; every action is
 * also a plain subcommand for scripts (most take --json).
 */
import { parseArgs } from 'node:util';
// Types only: the admin client loads undici, which `rustless gateway` must not carry idle.
import type { AdminClient } from '../admin/admin-client.js';
import { VERSION } from '../version.js';
import type { Command } from './command.js';
import type { CommandContext } from './command.js';
import { reportError, UsageError } from './output.js';

// Commands load on use: the long-running gateway then holds none of the client commands'
// modules (nor they the gateway's), which keeps its resident memory down.
const gateway = (c: CommandContext) => import('./commands/gateway.js').then((m) => m.gateway(c));
const deploy = (c: CommandContext) => import('./commands/deploy.js').then((m) => m.deploy(c));
const ls = (c: CommandContext) => import('./commands/ls.js').then((m) => m.ls(c));
const invoke = (c: CommandContext) => import('./commands/invoke.js').then((m) => m.invoke(c));
const logs = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.logs(c));
const stop = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.stop(c));
const rollback = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.rollback(c));
const rm = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.rm(c));
const newApp = (c: CommandContext) => import('./commands/new.js').then((m) => m.newApp(c));
const doctor = (c: CommandContext) => import('./commands/doctor.js').then((m) => m.doctor(c));
const secret = (c: CommandContext) => import('./commands/secret.js').then((m) => m.secret(c));
const exportCommand = (c: CommandContext) => import('./commands/export.js').then((m) => m.exportCommand(c));
const connect = (...args: Parameters<typeof import('./connect.js').connect>) => import('./connect.js').then((m) => m.connect(...args));

const GLOBAL_OPTIONS = {
  host: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

const COMMANDS: Record<string, Command> = {
  gateway: {
    usage: 'rustless gateway [--backend local|systemd] [--port 8080] [--listen 0.0.0.0] [--state-dir DIR] [--cache-dir DIR] [--admin-socket PATH] [--idle-timeout 60] [--frozen-timeout 900] [--frozen-memory-mib 256] [--frozen-pressure 10] [--freezer auto|cgroup1|cgroup2|off] [--access-log] [--admin-port PORT --admin-token-file FILE [--admin-listen 127.0.0.1]] [--advertise] [--metrics-listen HOST:PORT] [--no-metrics]',
    summary: 'run the gateway in the foreground',
    needsHost: false,
    options: {
      backend: { type: 'string' }, port: { type: 'string' }, listen: { type: 'string' }, 'state-dir': { type: 'string' },
      'runtime-dir': { type: 'string' }, 'admin-socket': { type: 'string' }, 'idle-timeout': { type: 'string' },
      'frozen-timeout': { type: 'string' }, 'frozen-memory-mib': { type: 'string' }, 'frozen-pressure': { type: 'string' }, freezer: { type: 'string' },
      'admin-port': { type: 'string' }, 'admin-token-file': { type: 'string' }, 'runner-dir': { type: 'string' }, 'cache-dir': { type: 'string' }, 'access-log': { type: 'boolean' },
      'admin-listen': { type: 'string' }, advertise: { type: 'boolean' }, 'metrics-listen': { type: 'string' }, 'no-metrics': { type: 'boolean' },
    },
    run: gateway,
  },
  deploy: { usage: 'rustless deploy DIR [--verbose] [--no-wait] [--json]', summary: 'build and deploy a function app', needsHost: true, options: { verbose: { type: 'boolean', short: 'v' }, 'no-wait': { type: 'boolean' } }, run: deploy },
  ls: { usage: 'rustless ls [--json]', summary: 'list apps with their status and routes', needsHost: true, options: {}, run: ls },
  invoke: { usage: 'rustless invoke METHOD PATH [--data JSON] [--url URL] [--json]', summary: 'send one request through the gateway', needsHost: true, options: { data: { type: 'string', short: 'd' }, url: { type: 'string' } }, run: invoke },
  logs: { usage: 'rustless logs APP [--follow] [--lines N]', summary: "show an app's runner log", needsHost: true, options: { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' } }, run: logs },
  stop: { usage: 'rustless stop APP', summary: "stop an app's runner (it restarts on the next request)", needsHost: true, options: {}, run: stop },
  rollback: { usage: 'rustless rollback APP [--build ID]', summary: 'serve the previous (or the given) build again', needsHost: true, options: { build: { type: 'string' } }, run: rollback },
  rm: {
    usage: 'rustless rm APP [--keep-data | --delete-data]',
    summary: 'delete an app, its routes, builds and secrets (an app with a data directory needs one of the two flags)',
    needsHost: true,
    options: { 'keep-data': { type: 'boolean' }, 'delete-data': { type: 'boolean' } },
    run: rm,
  },
  secret: { usage: 'rustless secret set APP NAME < value | secret ls APP | secret rm APP NAME', summary: "manage an app's secrets (values from stdin, never shown)", needsHost: true, options: {}, run: secret },
  new: { usage: 'rustless new DIR', summary: 'scaffold a function app', needsHost: false, options: {}, run: newApp },
  export: {
    usage: 'rustless export APP... [--out DIR] [--registry REGISTRY/PREFIX] [--kind knative|deployment] [--namespace NS] [--gateway [NS/]NAME] [--hostname HOST] [--port 8080] [--state-dir DIR] [--json]',
    summary: 'write Kubernetes manifests (Knative or Deployment), a Gateway API HTTPRoute and the images of deployed apps',
    needsHost: true,
    options: {
      out: { type: 'string', short: 'o' }, registry: { type: 'string' }, kind: { type: 'string' }, namespace: { type: 'string' }, gateway: { type: 'string' },
      hostname: { type: 'string' }, port: { type: 'string' }, 'state-dir': { type: 'string' },
    },
    run: exportCommand,
  },
  doctor: { usage: 'rustless doctor [--backend local|systemd] [--json]', summary: 'check this machine for what rust-less needs', needsHost: false, options: { backend: { type: 'string' } }, run: doctor },
};

function help(): string {
  const lines = [`rustless ${VERSION}: a serverless host for Rust functions`, '', 'usage:', '  rustless                 open the terminal UI (in a terminal)'];
  for (const command of Object.values(COMMANDS)) lines.push(`  ${command.usage}`, `      ${command.summary}`);
  lines.push('', 'global options: --host ssh://[USER@]HOST[:PORT][/SOCKET]|SOCKET|URL (or RUSTLESS_HOST), --token TOKEN (or RUSTLESS_TOKEN), --json, --help');
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith('-')) {
    const { values } = parseArgs({ args: argv, options: GLOBAL_OPTIONS, strict: true });
    if (values.version) {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (values.help || !process.stdin.isTTY || !process.stdout.isTTY) {
      process.stdout.write(help());
      return 0;
    }
    const { client } = await connect({ host: values.host, token: values.token });
    // Ink draws only a final frame when CI is set (it reads that once, on import); a terminal
    // here means a person is watching, so the TUI renders live whatever the environment says.
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    const { runTui } = await import('../tui/run-tui.js');
    const info = await client.info();
    const { describeHost } = await import('../admin/admin-client.js');
    await runTui({ client, hostLabel: describeHost(client.host), ...(info.publicUrl ? { publicUrl: info.publicUrl } : {}) });
    await client.close();
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; run rustless --help`);
  const { values, positionals } = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(`usage: ${command.usage}\n  ${command.summary}\n`);
    return 0;
  }
  let client: AdminClient | undefined;
  if (command.needsHost) client = (await connect({ host: values.host as string | undefined, token: values.token as string | undefined })).client;
  try {
    return await command.run({
      positionals,
      flags: values as Record<string, string | boolean | undefined>,
      client: () => {
        if (!client) throw new Error(`command ${name} does not talk to a gateway`);
        return client;
      },
    });
  } finally {
    await client?.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rustless: ${(error as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.exitCode = reportError(error);
    }
  },
);
