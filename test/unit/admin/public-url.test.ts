import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { reachablePublicUrl } from '../../../src/admin/public-url.js';
import { sshHostname } from '../../../src/admin/ssh-tunnel.js';

t.test("a gateway's loopback URL names the far host when the admin connection goes there", async (t) => {
  t.equal(reachablePublicUrl('http://127.0.0.1:8080', 'raspberrypi.local'), 'http://raspberrypi.local:8080');
  t.equal(reachablePublicUrl('http://127.0.0.1:8080', 'fd00::5'), 'http://[fd00::5]:8080');
  t.equal(reachablePublicUrl('http://[::1]:8080', '192.168.1.20'), 'http://192.168.1.20:8080');
  t.equal(reachablePublicUrl('http://127.0.0.1:8080', undefined), 'http://127.0.0.1:8080', 'on the same machine it is right as it is');
  t.equal(reachablePublicUrl('http://127.0.0.1:8080', '127.0.0.1'), 'http://127.0.0.1:8080');
  t.equal(reachablePublicUrl('http://10.0.0.7:8080', 'raspberrypi.local'), 'http://10.0.0.7:8080', 'an address the gateway was told to listen on stays');
  t.equal(reachablePublicUrl(null, 'raspberrypi.local'), null);
});

t.test("the far host is the one the user's ssh config names, asked of ssh itself", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-ssh-g-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config');
  await writeFile(config, 'Host pi\n  HostName raspberrypi.example\n  User pi\n');
  const env = { ...process.env, RUSTLESS_SSH_COMMAND: `ssh -F ${config}` };
  t.equal(await sshHostname({ destination: 'pi', socketPath: '/run/rustless/admin.sock', url: 'ssh://pi' }, env), 'raspberrypi.example');
  t.equal(await sshHostname({ destination: 'me@other.example', port: 2222, socketPath: '/x', url: 'ssh://me@other.example:2222' }, env), 'other.example');
  t.equal(await sshHostname({ destination: 'pi', socketPath: '/x', url: 'ssh://pi' }, { ...env, RUSTLESS_SSH_COMMAND: '/nonexistent/ssh' }), undefined, 'no ssh: no answer, no throw');
});
