/**
 * The table of `rustless` commands: usage, arguments, flags, and the module that runs each.
 * Commands load on use: the long-running gateway then holds none of the client commands'
 * modules (nor they the gateway's), which keeps its resident memory down.
 */
import type { Command, CommandContext } from './command.js';

const gateway = (c: CommandContext) => import('./commands/gateway.js').then((m) => m.gateway(c));
const deploy = (c: CommandContext) => import('./commands/deploy.js').then((m) => m.deploy(c));
const ls = (c: CommandContext) => import('./commands/ls.js').then((m) => m.ls(c));
const invoke = (c: CommandContext) => import('./commands/invoke.js').then((m) => m.invoke(c));
const logs = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.logs(c));
const stop = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.stop(c));
const rollback = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.rollback(c));
const rm = (c: CommandContext) => import('./commands/app-actions.js').then((m) => m.rm(c));
const newApp = (c: CommandContext) => import('./commands/new.js').then((m) => m.newApp(c));
const install = (c: CommandContext) => import('./commands/install.js').then((m) => m.install(c));
const doctor = (c: CommandContext) => import('./commands/doctor.js').then((m) => m.doctor(c));
const secret = (c: CommandContext) => import('./commands/secret.js').then((m) => m.secret(c));
const exportCommand = (c: CommandContext) => import('./commands/export.js').then((m) => m.exportCommand(c));
const help = (c: CommandContext) => import('./commands/help.js').then((m) => m.helpCommand(c));
const completion = (c: CommandContext) => import('./commands/completion.js').then((m) => m.completion(c));
const complete = (c: CommandContext) => import('./commands/completion.js').then((m) => m.complete(c));

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
const BACKENDS = ['local', 'systemd'] as const;

/** Accepted before or after any command. */
export const GLOBAL_OPTIONS = {
  host: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

const APP = { name: 'APP', complete: 'apps' } as const;

export const COMMANDS: Record<string, Command> = {
  gateway: {
    usage: 'rustless gateway [--backend local|systemd] [--port 8080] [--listen 0.0.0.0] [--state-dir DIR] [--cache-dir DIR] [--admin-socket PATH] [--idle-timeout 60] [--frozen-timeout 900] [--frozen-memory-mib 256] [--frozen-pressure 10] [--freezer auto|cgroup1|cgroup2|off] [--restart-after-builds 60] [--access-log] [--admin-port PORT --admin-token-file FILE [--admin-listen 127.0.0.1]] [--advertise] [--metrics-listen HOST:PORT] [--no-metrics] [--trust-proxy 127.0.0.1,unix] [--cargo PATH] [--build-memory 2G] [--build-timeout 900]',
    summary: 'run the gateway in the foreground',
    needsHost: false,
    args: [],
    options: {
      backend: { type: 'string' }, port: { type: 'string' }, listen: { type: 'string' }, 'state-dir': { type: 'string' },
      'runtime-dir': { type: 'string' }, 'admin-socket': { type: 'string' }, 'idle-timeout': { type: 'string' },
      'frozen-timeout': { type: 'string' }, 'frozen-memory-mib': { type: 'string' }, 'frozen-pressure': { type: 'string' }, freezer: { type: 'string' },
      'restart-after-builds': { type: 'string' },
      'admin-port': { type: 'string' }, 'admin-token-file': { type: 'string' }, 'runner-dir': { type: 'string' }, 'cache-dir': { type: 'string' }, 'access-log': { type: 'boolean' },
      'admin-listen': { type: 'string' }, advertise: { type: 'boolean' }, 'metrics-listen': { type: 'string' }, 'no-metrics': { type: 'boolean' }, 'trust-proxy': { type: 'string' },
      cargo: { type: 'string' }, 'build-memory': { type: 'string' }, 'build-timeout': { type: 'string' },
    },
    optionValues: { backend: BACKENDS, freezer: ['auto', 'cgroup1', 'cgroup2', 'off'] },
    run: gateway,
  },
  deploy: {
    usage: 'rustless deploy DIR [--verbose] [--no-wait] [--json]',
    summary: 'build and deploy a function app (DIR: its crate; . for this directory)',
    needsHost: true,
    args: [{ name: 'DIR', complete: 'paths' }],
    options: { verbose: { type: 'boolean', short: 'v' }, 'no-wait': { type: 'boolean' } },
    run: deploy,
  },
  ls: { usage: 'rustless ls [--json]', summary: 'list apps with their status and routes', needsHost: true, args: [], options: {}, run: ls },
  invoke: {
    usage: 'rustless invoke METHOD PATH [--data JSON] [--url URL] [--json]',
    summary: 'send one request through the gateway',
    needsHost: true,
    args: [{ name: 'METHOD', complete: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] }, { name: 'PATH' }],
    options: { data: { type: 'string', short: 'd' }, url: { type: 'string' } },
    run: invoke,
  },
  logs: { usage: 'rustless logs APP [--follow] [--lines N]', summary: "show an app's runner log", needsHost: true, args: [APP], options: { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' } }, run: logs },
  stop: { usage: 'rustless stop APP', summary: "stop an app's runner (it restarts on the next request)", needsHost: true, args: [APP], options: {}, run: stop },
  rollback: { usage: 'rustless rollback APP [--build ID]', summary: 'serve the previous (or the given) build again', needsHost: true, args: [APP], options: { build: { type: 'string' } }, run: rollback },
  rm: {
    usage: 'rustless rm APP [--keep-data | --delete-data]',
    summary: 'delete an app, its routes, builds and secrets (an app with a data directory needs one of the two flags)',
    needsHost: true,
    args: [APP],
    options: { 'keep-data': { type: 'boolean' }, 'delete-data': { type: 'boolean' } },
    run: rm,
  },
  secret: {
    usage: 'rustless secret set APP NAME < value | secret ls APP | secret rm APP NAME',
    summary: "manage an app's secrets (values from stdin, never shown)",
    needsHost: true,
    args: [{ name: 'set|ls|rm', complete: ['set', 'ls', 'rm'] }, APP, { name: 'NAME', optional: true }],
    options: {},
    run: secret,
  },
  new: { usage: 'rustless new DIR', summary: 'scaffold a function app', needsHost: false, args: [{ name: 'DIR', complete: 'paths' }], options: {}, run: newApp },
  export: {
    usage: 'rustless export APP... [--out DIR] [--registry REGISTRY/PREFIX] [--kind knative|deployment] [--namespace NS] [--gateway [NS/]NAME] [--hostname HOST] [--port 8080] [--json]',
    summary: 'write Kubernetes manifests (Knative or Deployment), a Gateway API HTTPRoute and the images of deployed apps',
    needsHost: true,
    args: [{ ...APP, repeats: true }],
    options: {
      out: { type: 'string', short: 'o' }, registry: { type: 'string' }, kind: { type: 'string' }, namespace: { type: 'string' }, gateway: { type: 'string' },
      hostname: { type: 'string' }, port: { type: 'string' },
    },
    optionValues: { kind: ['knative', 'deployment'] },
    run: exportCommand,
  },
  doctor: { usage: 'rustless doctor [--backend local|systemd] [--json]', summary: 'check this machine for what rust-less needs', needsHost: false, args: [], options: { backend: { type: 'string' } }, optionValues: { backend: BACKENDS }, run: doctor },
  install: {
    usage: 'rustless install [--port 8080] [--gateway-flags="--idle-timeout 120"] [--enable-memory-cgroup] [--public DOMAIN [--email ADDRESS]] | install --uninstall [--keep-data]',
    summary: 'install rust-less as a systemd service from this package, as root (docs/install.md)',
    needsHost: false,
    args: [],
    // The same as INSTALL_OPTIONS in commands/install.ts, which this table must not load.
    options: {
      port: { type: 'string' }, 'gateway-flags': { type: 'string' }, 'enable-memory-cgroup': { type: 'boolean' }, uninstall: { type: 'boolean' }, 'keep-data': { type: 'boolean' },
      public: { type: 'string' }, email: { type: 'string' }, 'acme-ca': { type: 'string' }, 'acme-ca-root': { type: 'string' }, 'http-port': { type: 'string' }, 'https-port': { type: 'string' },
    },
    run: install,
  },
  completion: {
    usage: 'rustless completion bash|zsh|fish',
    summary: 'print a shell completion script (commands, flags, and app names from the current host)',
    needsHost: false,
    args: [{ name: 'SHELL', complete: SHELLS }],
    options: {},
    run: completion,
  },
  help: { usage: 'rustless help [COMMAND]', summary: 'show the help of rustless or of one command', needsHost: false, args: [{ name: 'COMMAND', optional: true }], options: {}, run: help },
  __complete: { usage: 'rustless __complete WORD...', summary: 'the completion scripts\' helper', needsHost: false, args: [{ name: 'WORD', optional: true, repeats: true }], options: {}, hidden: true, rawArgs: true, run: complete },
};
