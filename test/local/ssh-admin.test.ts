/**
 * The admin path from a laptop: the CLI reaches a gateway's admin socket through a real
 * OpenSSH server (key authentication, its own host key), with the user's ssh config applied
 * (RUSTLESS_SSH_COMMAND="ssh -F FILE" stands in for ~/.ssh/config). Deploy with its streamed
 * build, list, invoke and follow logs all go through `ssh://`; a wrong key or an unknown host
 * fails with a clear message and a non-zero exit.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import t from 'tap';
import { CLI, EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { KEYS } from '../tui/fixtures/pty-screen.js';
import { openTui } from '../tui/fixtures/tui.js';
import { startSshd, type Sshd } from './fixtures/sshd.js';

let dir: string;
let sshd: Sshd;
let gateway: TestGateway;
let host: string;
let env: Record<string, string>;

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rustless-ssh-test-'));
  sshd = await startSshd(dir);
  gateway = await startGateway();
  host = `ssh://root@127.0.0.1:${sshd.port}${gateway.adminSocket}`;
  env = { RUSTLESS_SSH_COMMAND: `ssh -F ${await sshd.clientConfig()}` };
});
t.teardown(async () => {
  await gateway?.stop();
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
});

const rustless = (args: string[], extraEnv: Record<string, string> = env) =>
  execa(process.execPath, [CLI, ...args], { reject: false, env: { ...process.env, ...extraEnv }, timeout: 600_000 });

t.test('deploy, ls, invoke through ssh://', async (t) => {
  const deploy = await rustless(['deploy', join(EXAMPLES, 'hello'), '--verbose', '--host', host]);
  t.equal(deploy.exitCode, 0, `deploy through ssh:\n${deploy.stdout}\n${deploy.stderr}`);
  // The build's own lines came back through the tunnel as the build ran.
  t.match(deploy.stdout + deploy.stderr, /rustless: crates from/);
  t.match(deploy.stdout + deploy.stderr, /hello is live \(build #\d+\)/);

  const ls = await rustless(['ls', '--json'], { ...env, RUSTLESS_HOST: host });
  t.equal(ls.exitCode, 0, ls.stderr);
  t.match(JSON.parse(ls.stdout), [{ name: 'hello' }]);

  const invoke = await rustless(['invoke', 'GET', '/hello/laptop', '--json', '--host', host]);
  t.equal(invoke.exitCode, 0, invoke.stderr);
  t.match(JSON.parse(invoke.stdout), { status: 200, body: { message: 'hello laptop' } });
});

t.test('logs --follow streams through ssh:// and leaves no ssh behind', async (t) => {
  const child = spawn(process.execPath, [CLI, 'logs', 'hello', '--follow', '--host', host], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  // Once the past lines are in, a request while following: its log line arrives live.
  const until = async (check: () => boolean): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  };
  await until(() => lines.some((line) => line.includes('/hello/laptop')));
  t.ok(lines.some((line) => line.includes('/hello/laptop')), `the past lines came first (${lines.join(' | ') || stderr})`);
  await gateway.get('/hello/follow');
  await until(() => lines.some((line) => line.includes('/hello/follow')));
  t.ok(lines.some((line) => line.includes('/hello/follow')), `the new request's line arrived while following (${lines.join(' | ') || stderr})`);
  t.equal(child.exitCode, null, 'still following');
  child.kill('SIGTERM');
  await new Promise((done) => child.once('exit', done));
  const left = await execa('pgrep', ['-f', `${sshd.port}.*-L .*${gateway.adminSocket}|-L .*${gateway.adminSocket}`], { reject: false });
  t.equal(left.stdout.trim(), '', 'the ssh tunnel ended with the CLI');
});

t.test('the TUI through ssh://: dashboard, and a deploy with its build progress', async (t) => {
  const screen = openTui(host, { extraEnv: env });
  t.teardown(() => screen.kill());
  let text = await screen.waitFor(/hello/, 30_000);
  t.match(text.split('\n')[0], 'rustless › apps  ssh://root@127.0.0.1', 'the header names the ssh:// host');
  t.match(text, 'ssh://root@127.0.0.1', 'names the ssh:// host');
  screen.press('d');
  await screen.waitFor('Crate directory');
  await screen.type(join(EXAMPLES, 'echo'));
  screen.press(KEYS.enter);
  await screen.waitFor('Deploy echo?');
  screen.press(KEYS.enter);
  await screen.waitFor(/Build #\d+ of echo/);
  text = await screen.waitFor(/✓ echo is serving build #\d+\./, 600_000);
  t.match(text, /Compiling|Finished|crates from/, "the build's output came through the tunnel");
  screen.press('q');
  await screen.exited;
  const left = await execa('pgrep', ['-f', `-L .*${gateway.adminSocket}`], { reject: false });
  t.equal(left.stdout.trim(), '', 'no ssh left once the TUI quit');
});

t.test('a wrong key fails clearly, non-zero', async (t) => {
  const wrong = await rustless(['ls', '--host', host], { RUSTLESS_SSH_COMMAND: `ssh -F ${await sshd.clientConfig({ key: sshd.wrongKey })}` });
  t.not(wrong.exitCode, 0);
  t.match(wrong.stderr, /cannot reach ssh:\/\/root@127\.0\.0\.1:\d+\/.* through ssh \(ssh exited with code 255\): .*Permission denied \(publickey\)/);
});

t.test('an unknown host fails clearly, non-zero', async (t) => {
  const unknown = await rustless(['ls', '--host', host], { RUSTLESS_SSH_COMMAND: `ssh -F ${await sshd.clientConfig({ knownHosts: 'empty' })}` });
  t.not(unknown.exitCode, 0);
  t.match(unknown.stderr, /through ssh \(ssh exited with code 255\): .*Host key verification failed/);
});

t.test('a socket that is not there on the far side says so', async (t) => {
  const missing = await rustless(['ls', '--host', `ssh://root@127.0.0.1:${sshd.port}/run/no-such/admin.sock`]);
  t.not(missing.exitCode, 0);
  t.match(missing.stderr, /cannot reach the rustless gateway at ssh:\/\/.*no-such\/admin\.sock: .*\(ssh: .*open failed/);
});
