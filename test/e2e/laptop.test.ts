// From a laptop, the way the Pi's owner works: an unprivileged user of this machine, with its own
// ~/.ssh (a key, `Host pi` in ~/.ssh/config, the Pi's host key), drives a "Pi" (the Debian
// trixie test host: rust-less installed on the systemd backend, Debian's sshd, a user `pi` in the
// `rustless` group) with `rustless --host ssh://pi COMMAND`, global option first, as README says.
// new + cargo test, deploy with its progress, ls, invoke, logs -f, secret set, rollback, export
// (whose output then runs under `podman kube play` on the Pi), rm, and the TUI in a pty.
// Run it holding the e2e lock:
//   flock /tmp/rustless-e2e.lock npx tap --disable-coverage --timeout=1500 test/e2e/laptop.test.ts
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
// Plain JavaScript, shared with scripts/bench-laptop.mjs.
import { bootPi, makeLaptop, removeLaptop } from '../../scripts/lib/laptop-pi.mjs';
import { down } from '../../scripts/lib/testhost.mjs';
import { freePort } from '../helpers/free-port.js';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';
import { KEYS, PtyScreen } from '../tui/fixtures/pty-screen.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'e2e-laptop';
const HOST = 'ssh://pi';

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(25 * 60_000);

type Result = { stdout: string; stderr: string; exitCode: number };
let pi: Awaited<ReturnType<typeof bootPi>>;
let laptop: Awaited<ReturnType<typeof makeLaptop>>;

t.before(async () => {
  pi = await bootPi({ name: NAME, log: (m: string) => t.comment(m) });
  laptop = await makeLaptop(pi);
});
t.teardown(async () => {
  await removeLaptop();
  await down({ name: NAME, log: () => {} });
});

/** `rustless --host ssh://pi ARGS` typed on the laptop. */
function rustless(args: string, input?: string): Promise<Result> {
  return laptop.run(`rustless --host ${HOST} ${args}`, input === undefined ? {} : { input });
}

function ok(tt: Test, result: Result, what: string): Result {
  tt.equal(result.exitCode, 0, what, { stdout: result.stdout.slice(-3000), stderr: result.stderr.slice(-3000) });
  return result;
}

/** The same request a person would send from the laptop, to the Pi's public port. */
async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await request(`http://127.0.0.1:${pi.gatewayPort}${path}`);
  return { status: response.statusCode, body: await response.body.json() };
}

/** A terminal on the laptop running `argv` as the laptop user. */
function terminal(argv: string[]): PtyScreen {
  const [file, ...args] = laptop.argv(argv);
  return new PtyScreen(file!, args, { cwd: laptop.home, cols: 100, rows: 30, env: { TERM: 'xterm-256color' } });
}

t.test('new and cargo test, on the laptop', async (t) => {
  ok(t, await rustless('new greeter'), 'rustless --host ssh://pi new greeter');
  const test = ok(t, await laptop.run('cd greeter && cargo test 2>&1'), 'cargo test in the new crate');
  t.match(test.stdout, /test result: ok\. \d+ passed; 0 failed/);
});

t.test('deploy over ssh://, with the build progress in the terminal', async (t) => {
  const screen = terminal(['rustless', '--host', HOST, 'deploy', 'greeter']);
  t.teardown(() => screen.kill());
  const { exitCode } = await screen.exited;
  t.equal(exitCode, 0, 'deploy exits 0', { screen: screen.text() });
  t.match(screen.raw, /greeter is live \(build #1\)/);
  t.match(screen.raw, /deploying greeter from \/home\/rl-laptop\/greeter: build #1/);
  t.match(screen.raw, /build: \d+\/\d+ ready, \d+ crates? compiled/, "cargo's progress came through the tunnel");
  t.match(screen.text(), /GET\s+\/greeter\/hello\/:who -> Hello/, 'the routes it serves');
});

t.test('ls, invoke and logs -f over ssh://', async (t) => {
  t.match(ok(t, await rustless('ls'), 'ls').stdout, /greeter\s+\w+\s+#1/);
  const invoke = ok(t, await rustless('invoke GET /greeter/hello/laptop'), 'invoke');
  t.same(JSON.parse(invoke.stdout), { message: 'hello laptop' });
  t.match(invoke.stderr, /HTTP 200 in \d+ ms/);

  // Installed, the gateway logs no line per request (no --access-log): the journal of the app's
  // unit holds its starts and stops, so a stop and a cold start are what shows up live.
  const follow = followLogs();
  t.ok(await until(() => follow.lines.some((line) => /Started rustless-fn-greeter/.test(line))), `the past lines first (${follow.text()})`);
  const past = follow.lines.length;
  ok(t, await rustless('stop greeter'), 'stop');
  t.equal((await get('/greeter/hello/again')).status, 200, 'a cold start');
  t.ok(await until(() => follow.lines.slice(past).some((line) => /Stopped rustless-fn-greeter/.test(line))), `the stop, live (${follow.text()})`);
  t.ok(await until(() => follow.lines.slice(past).some((line) => /Started rustless-fn-greeter/.test(line))), `then the new start, live (${follow.text()})`);
  t.equal(follow.child.exitCode, null, 'still following');
  // SIGTERM to rustless itself (runuser, its parent here, would SIGKILL it 2 s later anyway).
  process.kill(await follow.pid(), 'SIGTERM');
  const timeout = new Promise((done) => setTimeout(() => done('still running after 5 s'), 5000).unref());
  t.match(await Promise.race([follow.ended, timeout]), { exitCode: 143 }, 'logs -f ends on SIGTERM, as SIGTERM ends a process');
  t.same(await tunnels(), { ssh: '', dirs: '' }, 'no ssh left on the laptop, nor its socket directory');

  // The ssh under it goes (a laptop closing its lid, a Pi rebooting): logs -f ends, and says so.
  const second = followLogs();
  t.ok(await until(() => second.lines.length > 0), `following again (${second.text()})`);
  const { ssh } = await tunnels();
  t.match(ssh, /^\d+$/, 'its one ssh');
  process.kill(Number(ssh), 'SIGTERM');
  const ended = await second.ended;
  t.equal(ended.exitCode, 1, 'logs -f exits 1 once its ssh is gone');
  t.match(second.stderr(), /rustless: the connection to the rustless gateway at ssh:\/\/pi broke off/);
  t.same(await tunnels(), { ssh: '', dirs: '' }, 'nothing of the tunnel left');
});

/**
 * The laptop user's live ssh processes (a dead one waits for init to reap it: not counted) and
 * the tunnels' socket directories.
 */
async function tunnels(): Promise<{ ssh: string; dirs: string }> {
  const ssh = await laptop.run('pgrep -u rl-laptop -x ssh -r R,S,D,T,t || true');
  const dirs = await laptop.run("find /tmp -maxdepth 1 -user rl-laptop -name 'rustless-ssh-*'");
  return { ssh: ssh.stdout.trim(), dirs: dirs.stdout.trim() };
}

/** `rustless --host ssh://pi logs -f greeter` on the laptop, its lines as they come. */
function followLogs() {
  const [file, ...args] = laptop.argv(['rustless', '--host', HOST, 'logs', '-f', 'greeter']);
  const child = spawn(file!, args, { cwd: laptop.home, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const ended = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (exitCode, signal) => done({ exitCode, signal })));
  return {
    child,
    lines,
    ended,
    stderr: () => stderr,
    text: () => `${lines.join(' | ')}${stderr ? ` / stderr: ${stderr}` : ''}`,
    /** The rustless process: runuser's child (env execs the wrapper, which execs node). */
    pid: async () => Number((await laptop.run(`pgrep -P ${child.pid}`)).stdout.trim()),
  };
}

async function until(check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return check();
}

t.test('secret set, a second deploy, rollback over ssh://', async (t) => {
  ok(t, await rustless('secret set greeter API_TOKEN', 'laptop-secret\n'), 'secret set from stdin');
  t.match(ok(t, await rustless('secret ls greeter'), 'secret ls').stdout, /API_TOKEN\tset/);
  const lib = join(laptop.home, 'greeter', 'src', 'lib.rs');
  await writeFile(lib, (await readFile(lib, 'utf8')).replace('format!("hello {}", who)', 'format!("howdy {}", who)'));
  ok(t, await rustless('deploy greeter'), 'deploy build #2');
  t.same((await get('/greeter/hello/pi')).body, { message: 'howdy pi' });
  t.match(ok(t, await rustless('rollback greeter'), 'rollback').stderr, /greeter now serves build #1/);
  t.same((await get('/greeter/hello/pi')).body, { message: 'hello pi' }, 'build #1 serves again');
});

t.test('export --kind deployment over ssh://, and its output runs under podman kube play on the Pi', async (t) => {
  const port = await freePort();
  const exported = ok(t, await rustless(`export greeter --kind deployment --port ${port} --out k8s --json`), 'export');
  const result = JSON.parse(exported.stdout);
  t.match(result.apps, [{ name: 'greeter', build: 1, image: 'localhost/rustless-fn-greeter:1', archive: `${laptop.home}/k8s/greeter/image.tar` }]);
  t.same((await readdir(join(laptop.home, 'k8s', 'greeter'))).sort(), ['deployment.yaml', 'image.tar', 'network-policy.yaml']);
  const owner = await laptop.run('stat -c %U k8s/greeter/image.tar');
  t.equal(owner.stdout.trim(), 'rl-laptop', "the laptop user's own file: no sudo anywhere");

  // The cluster here is the Pi's own Podman: carry the export over as one would with scp.
  await pi.guest.copyIn(join(laptop.home, 'k8s'), '/root/laptop-k8s');
  // Loaded into a store of its own: the Pi's own storage holds that image already.
  const apart = '--root /var/lib/containers/laptop-store --runroot /run/laptop-store';
  await pi.check(`podman ${apart} load -q -i /root/laptop-k8s/greeter/image.tar`);
  const id = "image inspect --format '{{.Id}}' localhost/rustless-fn-greeter:1";
  const [loaded, original] = [await pi.check(`podman ${apart} ${id}`), await pi.check(`podman ${id}`)];
  t.equal(loaded.stdout.trim(), original.stdout.trim(), 'the archive that came through ssh loads as the very image build #1 made');
  ok(t, await pi.check('podman --cgroup-manager=cgroupfs kube play --network host /root/laptop-k8s/greeter/deployment.yaml'), 'podman kube play');
  t.teardown(() => pi.check('podman --cgroup-manager=cgroupfs kube down /root/laptop-k8s/greeter/deployment.yaml').catch(() => undefined));
  let reply: { status: number; body: any } | undefined;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    reply = await request(`http://127.0.0.1:${port}/greeter/hello/kube`).then(
      async (r) => ({ status: r.statusCode, body: await r.body.json() }),
      () => undefined,
    );
    if (reply) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.same(reply, { status: 200, body: { message: 'hello kube' } }, 'the exported runner answers its route, alone');
});

t.test('the TUI over ssh:// opens and deploys, in a pty', async (t) => {
  ok(t, await laptop.run(`cp -r ${ROOT}/runner/examples/hello hello && rm -rf hello/target`), 'a second crate on the laptop');
  const screen = terminal(['rustless', '--host', HOST]);
  t.teardown(() => screen.kill());
  const text = await screen.waitFor(/greeter/, 60_000);
  t.match(text.split('\n')[0], /rustless › apps\s+ssh:\/\/pi/, 'the header names the ssh:// host');
  screen.press('d');
  await screen.waitFor('Crate directory');
  await screen.type('hello');
  screen.press(KEYS.enter);
  await screen.waitFor('Deploy hello?');
  screen.press(KEYS.enter);
  await screen.waitFor(/Build #\d+ of hello/);
  await screen.waitFor(/✓ hello is serving build #\d+\./, 15 * 60_000);
  screen.press('q');
  await screen.exited;
  t.same((await get('/hello/tui')).body, { message: 'hello tui' });
});

t.test('rm over ssh://', async (t) => {
  for (const app of ['greeter', 'hello']) t.match(ok(t, await rustless(`rm ${app}`), `rm ${app}`).stderr, `deleted ${app}`);
  t.match(ok(t, await rustless('ls'), 'ls').stdout, /no apps yet/);
});
