/**
 * A gateway running as root (as `sudo npm start` does) builds and runs functions as an
 * unprivileged user: neither a build.rs nor a function can read /etc/shadow or write to the
 * gateway's state dir. The tests run as root, as CI does.
 */
import { execa } from 'execa';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { EXAMPLES, startGateway } from '../helpers/gateway.js';

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

t.test('gateways sharing a cache dir run their own builds of same-named apps', async (t) => {
  // The runner binaries the build user may execute live in the shared cache dir. Copied to one
  // path per app name, a second gateway's deploy of `hello` failed (ETXTBSY) while the first
  // gateway's hello ran, or replaced the binary the first one starts next.
  const first = await startGateway();
  t.teardown(() => first.stop());
  const second = await startGateway();
  t.teardown(() => second.stop());
  const other = await mkdtemp(join(tmpdir(), 'rustless-hello-'));
  t.teardown(() => rm(other, { recursive: true, force: true }));
  await chmod(other, 0o755);
  await cp(join(EXAMPLES, 'hello'), other, { recursive: true, filter: (source) => !/\/target(\/|$)/.test(source) });
  const lib = join(other, 'src', 'lib.rs');
  await writeFile(lib, (await readFile(lib, 'utf8')).replace('format!("hello {}", name)', 'format!("howdy {}", name)'));

  t.equal((await first.deploy(join(EXAMPLES, 'hello'))).exitCode, 0, 'the first gateway deploys hello');
  t.same((await first.get('/hello/pi')).body, { message: 'hello pi' }, "the first gateway's hello is running");
  const deploy = await second.deploy(other);
  t.equal(deploy.exitCode, 0, `the second gateway deploys its own hello while the first one's runs:\n${deploy.stderr}`);
  t.same((await second.get('/hello/pi')).body, { message: 'howdy pi' }, 'the second gateway answers with its build');

  // A restart starts each runner again from the binary its own gateway installed.
  t.equal((await first.cli(['stop', 'hello'])).exitCode, 0);
  t.same((await first.get('/hello/pi')).body, { message: 'hello pi' }, 'the first gateway still runs its own build');
});
