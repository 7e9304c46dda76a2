#!/usr/bin/env zx
// Installs rust-less on this host as a systemd service, the way a user sets up a Pi:
//   sudo rustless install [--port 8080] [--gateway-flags="--idle-timeout 120"] [--enable-memory-cgroup]
//     (from the npm package: runs this script with --in-place; see docs/install.md)
//   sudo npx zx scripts/install.mjs [--prefix /usr/local] [--port 8080] ...   (from a checkout)
//   ... --public hooks.example.org [--email you@example.org]   (HTTPS with Caddy in front: docs/webhooks.md)
//   ... --uninstall [--keep-data]
// From a checkout it copies the built package (dist, production node_modules, runner, units,
// quadlets) to PREFIX/lib/rustless and links PREFIX/bin/rustless (run `npm ci` there first);
// --in-place uses the package where it is (npm install -g put it there, and made the command).
// Then it creates the `rustless` group, /var/lib/rustless and /etc/rustless, installs the
// units, starts rustless.socket, and says whether memory limits hold on this kernel
// (--enable-memory-cgroup turns them on for the next boot on Raspberry Pi OS). See
// docs/install.md and docs/systemd.md.
import { checkPublicOptions, installPublic, uninstallPublic } from './lib/public-https.mjs';
import { ensureBinding } from './lib/sd-notify-binding.mjs';
import { CMDLINE_FILE, cmdlineEnables, enableMemoryCgroup } from './lib/memory-cgroup.mjs';

$.verbose = false;

const inPlace = Boolean(argv['in-place']);
const source = path.resolve(argv.source ?? path.join(__dirname, '..'));
const prefix = path.resolve(argv.prefix ?? '/usr/local');
const libDir = inPlace ? source : path.join(prefix, 'lib', 'rustless');
const binLink = path.join(prefix, 'bin', 'rustless');
/** What the units run: the package's own entry point, which npm's bin link also points at. */
const command = inPlace ? path.join(libDir, 'dist', 'cli', 'main.js') : binLink;
const unitDir = argv['unit-dir'] ?? '/etc/systemd/system';
const cmdline = String(argv.cmdline ?? CMDLINE_FILE);
const stateDir = '/var/lib/rustless';
const configDir = '/etc/rustless';
const quadletDir = '/etc/containers/systemd';
const UNITS = ['rustless.service', 'rustless.socket', 'rustless-admin.socket'];
const SOCKETS = ['rustless.socket', 'rustless-admin.socket'];
// What the installed package holds; runner/target and tests stay behind.
const PACKAGE_ENTRIES = ['package.json', 'package-lock.json', 'dist', 'runner', 'units', 'quadlets', 'docs', 'README.md'];

const say = (text) => echo(`rustless install: ${text}`);
const fail = (text) => {
  echo(`rustless install: ${text}`);
  process.exit(1);
};

if (process.getuid() !== 0) fail('run it as root (sudo): it installs systemd units and creates a group');
if (argv.port !== undefined && !/^\d+$/.test(String(argv.port))) fail(`--port must be a port number, got ${JSON.stringify(argv.port)}`);
if (!(await which('systemctl', { nothrow: true }))) fail('systemctl was not found: the systemd backend needs a host booted with systemd');
// systemctl alone proves nothing (Debian installs it in containers and chroots too): check
// before changing anything, not at the first systemctl call halfway through.
if (!(await fs.pathExists('/run/systemd/system'))) fail('this host was not booted with systemd (no /run/systemd/system): the systemd backend cannot run here; use the local backend (rustless gateway --backend local)');
if (inPlace && /^\/(home|root)\//.test(libDir)) fail(`npm installed rust-less under ${libDir}, a home directory, which rustless.service cannot read (ProtectHome=yes): install it with \`sudo npm install -g\` (a system prefix), or from a checkout with \`sudo npx zx scripts/install.mjs\``);
// --public DOMAIN (scripts/lib/public-https.mjs); --acme-ca, --acme-ca-root and the ports are for a staging or test CA.
const publicOptions = argv.public === undefined ? undefined : {
  domain: argv.public, email: argv.email, acmeCa: argv['acme-ca'], acmeCaRoot: argv['acme-ca-root'], httpPort: argv['http-port'], httpsPort: argv['https-port'],
};
if (publicOptions) {
  const problem = checkPublicOptions(publicOptions);
  if (problem) fail(problem);
  if (!(await which('caddy', { nothrow: true }))) fail('--public puts Caddy in front of the gateway: apt install caddy, then run this again');
}

if (argv.uninstall) await uninstall();
else await install();

async function install() {
  const t0 = Date.now();
  if (inPlace) {
    if (!(await fs.pathExists(command))) fail(`${command} is missing: this package was not built (npm pack builds dist/)`);
    say(`package in ${libDir} (where npm installed it); the units run ${command}`);
  } else {
    await copyPackage();
  }
  // After the copy: install it into the copy the service runs.
  const notifyThroughChild = await ensureNotify(libDir);

  if ((await $({ nothrow: true })`getent group rustless`).exitCode !== 0) {
    await $`groupadd --system rustless`;
    say('created the group rustless (add people who may manage functions: usermod -aG rustless NAME)');
  }
  await fs.mkdirp(stateDir);
  await fs.chmod(stateDir, 0o750);
  // Earlier versions shared one writable cargo target dir here, which any build could poison: gone.
  await fs.remove(path.join(stateDir, 'cache'));
  await fs.mkdirp(configDir);
  await fs.mkdirp(quadletDir);
  const envFile = path.join(configDir, 'gateway.env');
  if (argv['gateway-flags'] !== undefined || !(await fs.pathExists(envFile))) {
    const flags = String(argv['gateway-flags'] ?? '');
    await fs.writeFile(envFile, `# Extra flags for \`rustless gateway\` (rustless.service reads this file).\n# For example: RUSTLESS_GATEWAY_FLAGS=--idle-timeout 120\nRUSTLESS_GATEWAY_FLAGS=${flags}\n`);
  }

  for (const unit of UNITS) {
    let text = await fs.readFile(path.join(libDir, 'units', unit), 'utf8');
    text = text.replaceAll('/usr/local/bin/rustless', command).replaceAll('/usr/local/lib/rustless', libDir);
    await fs.writeFile(path.join(unitDir, unit), text);
  }
  // systemd-notify is a child of the gateway: systemd takes its messages only with this.
  const fallback = path.join(unitDir, 'rustless.service.d', 'notify-fallback.conf');
  if (notifyThroughChild) {
    await fs.mkdirp(path.dirname(fallback));
    await fs.writeFile(fallback, '# Written by scripts/install.mjs: the gateway notifies through systemd-notify, a child process.\n[Service]\nNotifyAccess=all\n');
  } else {
    await fs.remove(fallback);
  }
  const dropInDir = path.join(unitDir, 'rustless.socket.d');
  if (argv.port !== undefined) {
    await fs.mkdirp(dropInDir);
    await fs.writeFile(path.join(dropInDir, 'port.conf'), `# Written by scripts/install.mjs --port ${argv.port}\n[Socket]\nListenStream=\nListenStream=${argv.port}\n`);
  }
  say(`units in ${unitDir}: ${UNITS.join(', ')}${argv.port !== undefined ? ` (public port ${argv.port})` : ''}`);
  if (publicOptions) await installPublic({ ...publicOptions, gatewayPort: argv.port ?? 8080, unitDir, say });

  await $`systemctl daemon-reload`;
  const wasRunning = (await $({ nothrow: true })`systemctl is-active --quiet rustless.service`).exitCode === 0;
  // A changed port only takes effect once the socket is bound again.
  if (argv.port !== undefined || publicOptions) await $({ nothrow: true })`systemctl stop rustless.service ${SOCKETS}`;
  await $`systemctl enable --now ${SOCKETS}`;
  if (wasRunning) {
    await $`systemctl try-restart rustless.service`;
    say('restarted the running gateway on the new version');
  }

  const doctor = await $({ nothrow: true })`${command} doctor --backend systemd`;
  echo(doctor.stdout.trimEnd());
  if (doctor.exitCode !== 0) say('doctor found problems (above): the gateway may not be able to build or run functions until they are fixed');
  await memoryController();
  say(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s; the gateway starts on the first connection to ${publicOptions ? `https://${publicOptions.domain} (through Caddy), 127.0.0.1:` : 'port '}${argv.port ?? 8080} or /run/rustless/admin.sock`);
}

/**
 * Stock Raspberry Pi OS boots without the kernel's memory controller: every MemoryMax= is then
 * accepted and limits nothing. Says so; --enable-memory-cgroup edits the kernel's command line
 * (scripts/lib/memory-cgroup.mjs) so that the next boot has it.
 */
async function memoryController() {
  const { readMemoryController } = await import(path.join(libDir, 'dist', 'backends', 'systemd', 'memory-controller.js'));
  const memory = readMemoryController();
  const enable = Boolean(argv['enable-memory-cgroup']);
  if (memory.enforced) {
    if (enable) say('--enable-memory-cgroup: the memory controller is on already; nothing to change');
    return;
  }
  if (!enable) {
    if (await cmdlineEnables(cmdline)) say(`memory limits are OFF until the next boot: ${cmdline} has cgroup_enable=memory already; reboot`);
    else say(`memory limits are OFF: ${memory.detail}. The apps' container.memory and the builds' MemoryMax= limit nothing. Run this again with --enable-memory-cgroup (it appends cgroup_enable=memory to ${cmdline}), then reboot`);
    return;
  }
  if (!(await fs.pathExists(cmdline))) fail(`--enable-memory-cgroup: ${cmdline} does not exist (this is not Raspberry Pi OS?): add cgroup_enable=memory to this kernel's command line yourself (on GRUB: GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub), and reboot`);
  const result = await enableMemoryCgroup(cmdline).catch((error) => fail(`--enable-memory-cgroup: ${error.message}`));
  if (result.changed) say(`--enable-memory-cgroup: ${cmdline} is now "${result.line}" (as it was: ${result.backup}). REBOOT to turn memory limits on`);
  else say(`--enable-memory-cgroup: ${cmdline} has cgroup_enable=memory already. REBOOT to turn memory limits on`);
}

/**
 * Copies the checkout's built package to libDir and links binLink: a fresh copy next to the
 * old one, then swapped in, so a running gateway keeps its files.
 */
async function copyPackage() {
  if (!(await fs.pathExists(path.join(source, 'dist', 'cli', 'main.js')))) fail(`${source}/dist is missing: run \`npm ci && npm run build\` in ${source} first`);
  if (!(await fs.pathExists(path.join(source, 'node_modules')))) fail(`${source}/node_modules is missing: run \`npm ci\` in ${source} first`);
  const staging = `${libDir}.new-${process.pid}`;
  await fs.remove(staging);
  await fs.mkdirp(staging);
  for (const entry of PACKAGE_ENTRIES) {
    const from = path.join(source, entry);
    if (!(await fs.pathExists(from))) continue;
    // Timestamps kept: runner/'s are part of the shared dependencies' key (cargo's fingerprints
    // hold them), and a reinstall of the same files must not rebuild them.
    await fs.copy(from, path.join(staging, entry), { preserveTimestamps: true, filter: (file) => !/\/runner\/(.*\/)?target(\/|$)/.test(file) && !file.endsWith('/runner/Cargo.lock') });
  }
  await copyProductionModules(source, staging);
  await fs.chmod(path.join(staging, 'dist', 'cli', 'main.js'), 0o755);
  const old = `${libDir}.old-${process.pid}`;
  if (await fs.pathExists(libDir)) await fs.move(libDir, old);
  await fs.move(staging, libDir);
  await fs.remove(old);
  await fs.mkdirp(path.dirname(binLink));
  await fs.remove(binLink);
  await fs.symlink(path.join(libDir, 'dist', 'cli', 'main.js'), binLink);
  say(`package in ${libDir}, ${binLink} -> ${libDir}/dist/cli/main.js`);
}

/**
 * rustless.service is Type=notify: a gateway that cannot send READY=1 is restarted every 90 s.
 * `npm ci` drops the sd-notify binding whole when libsystemd-dev came later, so install it into
 * the copy here when it can be built; otherwise the gateway falls back to systemd-notify. With
 * neither, stop here. True when the gateway will notify through systemd-notify (a child process).
 */
async function ensureNotify(dir) {
  const binding = await ensureBinding(dir, { log: say });
  if (!binding.ok) say(`the sd-notify binding is NOT there: ${binding.detail}`);
  const doctor = await $({ nothrow: true })`node ${path.join(dir, 'dist', 'cli', 'main.js')} doctor --backend systemd --json`;
  const notify = JSON.parse(doctor.stdout).checks.find((c) => c.name === 'notify');
  if (!notify.ok) fail(`the gateway could not tell systemd it is ready (${notify.detail}); ${notify.fix}`);
  say(`the gateway notifies systemd with ${notify.detail.replace(/^READY=1 through /, '')}`);
  return !notify.detail.startsWith('READY=1 through the sd-notify binding');
}

/** Copies node_modules without what only development needs (package-lock marks it `dev`). */
async function copyProductionModules(from, to) {
  const lock = await fs.readJson(path.join(from, 'package-lock.json')).catch(() => undefined);
  const devOnly = new Set(Object.entries(lock?.packages ?? {}).filter(([key, info]) => key && info.dev).map(([key]) => path.join(from, key)));
  await fs.copy(path.join(from, 'node_modules'), path.join(to, 'node_modules'), {
    filter: (file) => !devOnly.has(file) && !file.endsWith('/node_modules/.cache'),
  });
}

async function uninstall() {
  await $({ nothrow: true })`systemctl disable --now ${SOCKETS} rustless.service`;
  // Every function app: its socket, its container service, its units and its images.
  const apps = new Set();
  for (const dir of [quadletDir, unitDir]) {
    for (const file of await fs.readdir(dir).catch(() => [])) {
      const match = /^rustless-fn-(.+)\.(container|socket)$/.exec(file);
      if (match) apps.add(match[1]);
    }
  }
  for (const app of apps) {
    await $({ nothrow: true })`systemctl stop ${`rustless-fn-${app}.socket`} ${`rustless-fn-${app}.service`}`;
    await fs.remove(path.join(quadletDir, `rustless-fn-${app}.container`));
    await fs.remove(path.join(unitDir, `rustless-fn-${app}.socket`));
  }
  for (const unit of UNITS) await fs.remove(path.join(unitDir, unit));
  if (await uninstallPublic({ unitDir })) say('stopped Caddy and took its site for rust-less off (an earlier Caddyfile is back: `systemctl enable --now caddy` if it served something)');
  await fs.remove(path.join(unitDir, 'rustless.socket.d'));
  await fs.remove(path.join(unitDir, 'rustless.service.d', 'notify-fallback.conf'));
  await $`systemctl daemon-reload`;
  await $({ nothrow: true })`systemctl reset-failed`;
  if (await which('podman', { nothrow: true })) {
    const images = (await $({ nothrow: true })`podman images --noheading --format {{.Repository}}:{{.Tag}} --filter reference=localhost/rustless-fn-*`).stdout.split('\n').filter(Boolean);
    if (images.length) await $({ nothrow: true })`podman rmi --force --ignore ${images}`;
  }
  // An npm-installed package is npm's to remove (npm uninstall -g rustless).
  if (!inPlace) {
    await fs.remove(binLink);
    await fs.remove(libDir);
  }
  await fs.remove('/run/rustless');
  // The apps' build caches (owned by their builds' dynamic users); rebuilt on the next deploy.
  await fs.remove('/var/cache/rustless');
  await fs.remove('/var/cache/private/rustless');
  if (!argv['keep-data']) {
    await fs.remove(stateDir);
    await fs.remove(configDir);
    await $({ nothrow: true })`groupdel rustless`;
  }
  say(`removed rust-less (${apps.size} function apps${argv['keep-data'] ? `; kept ${stateDir} and ${configDir}` : ''})`);
}
