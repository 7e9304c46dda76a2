/**
 * A gateway running as root (as `sudo npm start` does) builds and runs functions as an
 * unprivileged user: neither a build.rs nor a function can read /etc/shadow or write to the
 * gateway's state dir. The tests run as root, as CI does.
 */
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import t from 'tap';
import { startGateway } from '../helpers/gateway.js';

const SNOOP = resolve(import.meta.dirname, 'fixtures', 'snoop');

t.test('as root, build.rs and functions run unprivileged', async (t) => {
  t.equal(process.getuid?.(), 0, 'this test runs as root, as CI does');
  const gateway = await startGateway();
  t.teardown(() => gateway.stop());
  const expected = (await execa('getent', ['passwd', 'rustless-fn'], { reject: false })).exitCode === 0 ? 'rustless-fn' : 'nobody';
  t.match(gateway.output.join('\n'), `builds and functions run as ${expected}`);

  // build.rs panics (failing the deploy) if it can read /etc/shadow.
  const deploy = await gateway.cli(['deploy', SNOOP, '--verbose']);
  t.equal(deploy.exitCode, 0, `deploy succeeded:\n${deploy.stdout}\n${deploy.stderr}`);
  t.match(deploy.stdout + deploy.stderr, `building as the unprivileged user ${expected}`);

  const target = join(gateway.stateDir, 'planted');
  const reply = await gateway.get(`/snoop?write=${encodeURIComponent(target)}`);
  t.equal(reply.status, 200, reply.text);
  t.equal(reply.body.shadow, 'PermissionDenied', 'the function cannot read /etc/shadow');
  t.notMatch(reply.body.uid, /^Uid:\s+0\s/, `the function does not run as root (${reply.body.uid})`);
  t.equal(reply.body.state, 'PermissionDenied', "the function cannot write to the gateway's state dir");
});
