// A Pi in a cupboard and the laptop its owner works on, for the test and the benchmark that
// drive rust-less that way (test/e2e/laptop.test.ts, scripts/bench-laptop.mjs):
// - the "Pi" is the test host (testhost.mjs) with rust-less installed by scripts/install.mjs on
//   the systemd backend, a user `pi` in the `rustless` group, and Debian's sshd on a loopback port;
// - the "laptop" is an unprivileged user of this machine with its own ~/.ssh (a key, a Host `pi`
//   in ~/.ssh/config, the Pi's host key in known_hosts) and `rustless` on its PATH.
// Plain JavaScript, so that both the tap test and the zx script can use it.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './free-port.mjs';
import { boot, sh } from './testhost.mjs';

export const LAPTOP_USER = 'rl-laptop';
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const SRC = '/src/rustless';
const CLEAN = ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb'];

/**
 * Boots the Pi: rust-less on the systemd backend, `pi` in the rustless group, sshd on loopback.
 * @param {{ name: string, log?: (message: string) => void }} options
 */
export async function bootPi({ name, log = () => {} }) {
  const binds = [{ host: REPO, guest: SRC, readOnly: true }];
  // In a git worktree node_modules may be a link out of the checkout: bring its target along.
  const modules = fs.realpathSync(path.join(REPO, 'node_modules'));
  if (!modules.startsWith(`${REPO}/`)) binds.push({ host: modules, guest: modules, readOnly: true });
  const guest = await boot({ name, binds, log });
  const gatewayPort = await freePort();
  const sshPort = await freePort();
  /** @param {string} cmd */
  const check = async (cmd, timeoutMs = 10 * 60_000) => {
    const result = await guest.run([...CLEAN, '/bin/sh', '-c', cmd], { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`on the Pi: ${cmd} exited ${result.exitCode}:\n${result.stdout}${result.stderr}`.slice(-4000));
    return result;
  };
  await check(`cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${gatewayPort}`);
  await check('useradd --create-home --shell /bin/sh --groups rustless pi && install -d -m 700 -o pi -g pi /home/pi/.ssh');
  await guest.writeFile('/etc/ssh/sshd_config.d/rustless-laptop.conf', `Port ${sshPort}\nListenAddress 127.0.0.1\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n`);
  // The test host boots a target of its own, so nothing removed /run/nologin (written while
  // booting) and PAM turns every login away; systemd-user-sessions does that on a Pi.
  await check('systemctl start systemd-user-sessions ssh');
  const hostKey = (await guest.readFile('/etc/ssh/ssh_host_ed25519_key.pub')).trim().split(' ').slice(0, 2).join(' ');
  return {
    guest,
    gatewayPort,
    sshPort,
    hostKey,
    /** What the laptop types after --host. */
    sshUrl: 'ssh://pi',
    /** Where the Pi sees this checkout. */
    repo: SRC,
    /** @param {string} publicKey */
    authorize: async (publicKey) => {
      await guest.writeFile('/home/pi/.ssh/authorized_keys', publicKey, { mode: 0o600 });
      await check('chown pi:pi /home/pi/.ssh/authorized_keys');
    },
    /** A shell command on the Pi as root. */
    check,
    /**
     * A shell command on the Pi as `pi`, as someone logged in there would type it; never rejects.
     * @param {string} cmd
     * @param {{ input?: string, timeoutMs?: number }} [options]
     */
    asPi: (cmd, { input, timeoutMs = 10 * 60_000 } = {}) =>
      guest.run([...CLEAN.map((word) => (word === 'HOME=/root' ? 'HOME=/home/pi' : word)), 'USER=pi', '/usr/sbin/runuser', '-u', 'pi', '--', '/bin/sh', '-c', `cd && ${cmd}`], { input, timeoutMs }),
  };
}

/** Makes the laptop user (afresh) with its own ~/.ssh that reaches `pi` as `ssh://pi`. */
/**
 * @param {{ sshPort: number, hostKey: string, sshUser?: string, authorize: (publicKey: string) => Promise<void> }} pi
 * @param {{ user?: string | undefined }} [options]
 */
export async function makeLaptop(pi, { user = LAPTOP_USER } = {}) {
  await removeLaptop(user);
  await must(['useradd', '--create-home', '--shell', '/bin/sh', user]);
  const home = (await must(['getent', 'passwd', user])).stdout.split(':')[5];
  const env = laptopEnv(user, home);
  const asUser = (argv) => must(['/usr/sbin/runuser', '-u', user, '--', ...argv], { env });
  await asUser(['mkdir', '-m', '700', '-p', `${home}/.ssh`, `${home}/bin`]);
  await asUser(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${user}@laptop`, '-f', `${home}/.ssh/id_ed25519`]);
  await pi.authorize(await fsp.readFile(`${home}/.ssh/id_ed25519.pub`, 'utf8'));
  const files = {
    '.ssh/config': `Host pi\n  HostName 127.0.0.1\n  Port ${pi.sshPort}\n  User ${pi.sshUser ?? 'pi'}\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n`,
    '.ssh/known_hosts': `[127.0.0.1]:${pi.sshPort} ${pi.hostKey}\n`,
    // As `npm link` would put it there: the CLI of this checkout, run by the laptop's own node.
    'bin/rustless': `#!/bin/sh\nexec ${process.execPath} ${REPO}/dist/cli/main.js "$@"\n`,
  };
  for (const [file, text] of Object.entries(files)) {
    await fsp.writeFile(path.join(home, file), text, { mode: file.startsWith('bin/') ? 0o755 : 0o600 });
  }
  await must(['chown', '-R', `${user}:${user}`, home]);
  return {
    user,
    home,
    env,
    /**
     * argv that runs `argv` as the laptop user in its clean environment (for a pty).
     * @param {string[]} argv
     */
    argv: (argv) => ['/usr/sbin/runuser', '-u', user, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'TERM=xterm-256color', ...argv],
    /**
     * A shell command as the laptop user, in its home; never rejects.
     * @param {string} cmd
     * @param {{ input?: string, timeoutMs?: number }} [options]
     * @returns {Promise<{ stdout: string, stderr: string, exitCode: number }>}
     */
    run: (cmd, { input, timeoutMs = 10 * 60_000 } = {}) => sh(['/usr/sbin/runuser', '-u', user, '--', '/bin/sh', '-c', `cd && ${cmd}`], { env, input, timeoutMs }),
  };
}

/**
 * Removes the laptop user and its home (its processes are the caller's to end).
 * @param {string} [user]
 */
export async function removeLaptop(user = LAPTOP_USER) {
  if ((await sh(['id', '-u', user])).exitCode !== 0) return;
  // A killed run's tunnel directories: a later user given the same uid would own them.
  await must(['find', '/tmp', '-maxdepth', '1', '-user', user, '-name', 'rustless-ssh-*', '-exec', 'rm', '-rf', '{}', '+']);
  await must(['userdel', '--force', '--remove', user]);
}

function laptopEnv(user, home) {
  return { HOME: home, USER: user, LOGNAME: user, PATH: `${home}/bin:/usr/local/bin:/usr/bin:/bin`, LANG: 'C.UTF-8', TERM: 'dumb' };
}

async function must(argv, opts) {
  const result = await sh(argv, opts);
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')} exited ${result.exitCode}: ${(result.stderr || result.stdout).trim()}`);
  return result;
}
