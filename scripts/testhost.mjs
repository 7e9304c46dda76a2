#!/usr/bin/env zx
// The rustless test host: a Debian trixie root booted with systemd as PID 1 in its own
// namespaces, for testing the systemd backend with real Podman and Quadlet. See docs/testhost.md.
//
//   testhost.mjs create [--force] [--mirror URL]
//   testhost.mjs boot [--name default] [--mode overlay|copy] [--bind HOST:GUEST[:ro]]... [--timeout 60] [--foreground]
//   testhost.mjs exec [--name default] -- CMD...
//   testhost.mjs bind [--name default] HOST[:GUEST[:ro]]
//   testhost.mjs shell [--name default]
//   testhost.mjs down [--name default]
//   testhost.mjs status
import { fs, minimist } from 'zx';
import { fileURLToPath } from 'node:url';
import * as th from './lib/testhost.mjs';

// Our own flags start after this script's path, whether run as `zx testhost.mjs` or `./testhost.mjs`.
const self = fileURLToPath(import.meta.url);
const at = process.argv.findIndex((a) => a === self || a.endsWith('/testhost.mjs') || a === 'testhost.mjs');
const args = minimist(process.argv.slice(at + 1), {
  string: ['name', 'mode', 'mirror', 'bind', 'timeout'],
  boolean: ['force', 'foreground', 'help', 'json'],
  default: { name: 'default', mode: 'overlay', timeout: '60', force: false, foreground: false },
  '--': true,
});
const [command] = args._;
const log = (msg) => process.stderr.write(`[testhost] ${msg}\n`);

const usage = `usage: testhost.mjs <command> [flags]
  create  [--force] [--mirror URL]          build (or reuse) the cached trixie root
  boot    [--name N] [--mode overlay|copy] [--bind HOST:GUEST[:ro]]... [--timeout SECS] [--foreground]
  exec    [--name N] -- CMD...              run CMD inside; its exit code passes through
  bind    [--name N] HOST[:GUEST[:ro]]      bind-mount a host dir into the running guest
  shell   [--name N]                        an interactive shell inside
  down    [--name N]                        power off, kill stragglers, remove mounts and run dir
  status  [--json]                          instances and the cached root`;

function fail(err) {
  log(err?.code ? `${err.code}: ${err.message}` : String(err?.stack ?? err));
  process.exit(1);
}

const timeoutMs = Number(args.timeout) * 1000;
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail(`Expected --timeout to be a positive number of seconds, got ${JSON.stringify(args.timeout)}`);

// On SIGINT/SIGTERM while booting (or in --foreground), take the instance down before exiting.
let teardownName = null;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    // exec/shell: the command inside gets the terminal's signals itself; wait for its exit code.
    if (command === 'exec' || command === 'shell') return;
    if (!teardownName) process.exit(sig === 'SIGINT' ? 130 : 143);
    const name = teardownName;
    teardownName = null;
    log(`${sig}: taking "${name}" down`);
    try {
      await th.down({ name, log });
    } catch (err) {
      log(String(err));
    }
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

try {
  switch (command) {
    case 'create': {
      const t0 = Date.now();
      const r = await th.create({ force: args.force, mirror: args.mirror, log });
      log(`create: ${r.cached ? 'cached' : 'built'} ${r.root} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      console.log(r.root);
      break;
    }
    case 'boot': {
      const binds = [].concat(args.bind ?? []).map((spec) => {
        const [host, guest, ro] = spec.split(':');
        return { host, guest: guest ?? host, readOnly: ro === 'ro' };
      });
      teardownName = args.name;
      const host = await th.boot({ name: args.name, mode: args.mode, binds, timeoutMs, log, createOpts: { mirror: args.mirror } });
      console.log(host.pid);
      if (args.foreground) {
        log('running in the foreground; Ctrl-C takes it down');
        while (th.list().find((i) => i.name === args.name)?.running) await new Promise((resolve) => setTimeout(resolve, 500));
        await th.down({ name: args.name, log });
      }
      teardownName = null;
      break;
    }
    case 'exec': {
      const cmd = args['--'] ?? [];
      if (!cmd.length) fail('exec needs a command after --');
      process.exitCode = await th.attach(args.name).exec(cmd);
      break;
    }
    case 'bind': {
      const [spec] = args._.slice(1);
      const [hostPath, guestPath, ro] = (spec ?? '').split(':');
      if (!hostPath) fail('bind needs HOST[:GUEST[:ro]]');
      await th.attach(args.name).bindIn(hostPath, guestPath || hostPath, { readOnly: ro === 'ro' });
      break;
    }
    case 'shell':
      process.exitCode = await th.attach(args.name).exec(['/bin/bash', '-l']);
      break;
    case 'down':
      await th.down({ name: args.name, log });
      break;
    case 'status': {
      const root = th.cachedRootPath();
      const info = { cachedRoot: (await fs.pathExists(root)) ? root : null, instances: th.list() };
      if (args.json) console.log(JSON.stringify(info, null, 2));
      else {
        console.log(`cached root: ${info.cachedRoot ?? '(none; run create)'}`);
        for (const i of info.instances) console.log(`${i.name}\t${i.running ? `running, pid ${i.pid}` : 'stopped (leftovers; run down)'}\t${i.runDir}`);
      }
      break;
    }
    default:
      console.log(usage);
      if (!args.help && command !== 'help') process.exitCode = 2;
  }
} catch (err) {
  fail(err);
}
