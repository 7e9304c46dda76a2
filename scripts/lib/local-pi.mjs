// This machine as the "Pi", for scripts/bench-laptop.mjs --pi local (no test host to boot): a
// local-backend gateway run by root, a user `rl-pi` whose group opens its admin socket, and
// Debian's sshd on a loopback port (in a private mount namespace, so its /run/sshd is its own).
// The laptop (laptop-pi.mjs's makeLaptop) reaches it as ssh://pi/<admin socket>.
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './free-port.mjs';
import { sh } from './testhost.mjs';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const USER = 'rl-pi';

export async function startLocalPi() {
  const dir = await fsp.mkdtemp('/tmp/rustless-local-pi-');
  await fsp.chmod(dir, 0o755);
  const stateDir = path.join(dir, 'state');
  const socket = path.join(stateDir, 'admin.sock');
  const gatewayPort = await freePort();
  const cli = path.join(REPO, 'dist', 'cli', 'main.js');
  const gateway = spawn(process.execPath, [cli, 'gateway', '--backend', 'local', '--port', String(gatewayPort), '--listen', '127.0.0.1', '--state-dir', stateDir, '--cache-dir', '/tmp/rustless-test-cargo-cache'], { stdio: ['ignore', 'pipe', 'inherit'] });
  for await (const line of createInterface({ input: gateway.stdout })) if (/listening on/.test(line)) break;

  if ((await sh(['id', '-u', USER])).exitCode === 0) await must(['userdel', '--force', '--remove', USER]);
  // `*`, not useradd's `!`: without PAM, sshd refuses a locked account even with a good key.
  await must(['useradd', '--create-home', '--shell', '/bin/sh', '--password', '*', USER]);
  const home = `/home/${USER}`;
  await must(['chgrp', USER, socket]);
  await fsp.mkdir(path.join(dir, 'bin'));
  await fsp.writeFile(path.join(dir, 'bin', 'rustless'), `#!/bin/sh\nexec ${process.execPath} ${cli} "$@"\n`, { mode: 0o755 });

  const sshPort = await freePort();
  await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
  const config = path.join(dir, 'sshd_config');
  await fsp.writeFile(config, [`Port ${sshPort}`, 'ListenAddress 127.0.0.1', `HostKey ${path.join(dir, 'host_key')}`, 'AuthorizedKeysFile .ssh/authorized_keys', 'PubkeyAuthentication yes', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'AllowStreamLocalForwarding yes', `PidFile ${path.join(dir, 'sshd.pid')}`, ''].join('\n'));
  const sshd = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs -o mode=0755 rustless-sshd /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd -D -e -f "$0"', config], { stdio: 'ignore' });
  await waitForPort(sshPort);
  const hostKey = (await fsp.readFile(path.join(dir, 'host_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  const env = { HOME: home, USER, LOGNAME: USER, PATH: `${dir}/bin:/usr/local/bin:/usr/bin:/bin`, LANG: 'C.UTF-8', RUSTLESS_HOST: socket };
  return {
    gatewayPort,
    sshPort,
    hostKey,
    sshUser: USER,
    sshUrl: `ssh://pi${socket}`,
    repo: REPO,
    /** @param {string} publicKey */
    authorize: async (publicKey) => {
      await fsp.mkdir(path.join(home, '.ssh'), { mode: 0o700, recursive: true });
      await fsp.writeFile(path.join(home, '.ssh', 'authorized_keys'), publicKey, { mode: 0o600 });
      await must(['chown', '-R', `${USER}:${USER}`, path.join(home, '.ssh')]);
    },
    /**
     * @param {string} cmd
     * @param {{ input?: string, timeoutMs?: number }} [options]
     */
    asPi: (cmd, { input, timeoutMs = 10 * 60_000 } = {}) => sh(['/usr/sbin/runuser', '-u', USER, '--', '/bin/sh', '-c', `cd && ${cmd}`], { env, input, timeoutMs }),
    async stop() {
      for (const child of [gateway, sshd]) {
        if (child.exitCode !== null) continue;
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      }
      await sh(['userdel', '--force', '--remove', USER]);
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

async function must(argv) {
  const result = await sh(argv);
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')} exited ${result.exitCode}: ${(result.stderr || result.stdout).trim()}`);
  return result;
}

async function waitForPort(port) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const open = await new Promise((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), done(true)));
      socket.once('error', () => done(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s`);
}
