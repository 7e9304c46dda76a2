// The plain CLI as scripts use it: doctor, ls, invoke, logs, and its errors.
import t from 'tap';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

t.before(async () => {
  gw = await startGateway();
  const deployed = await gw.deploy(join(EXAMPLES, 'echo'));
  if (deployed.exitCode !== 0) throw new Error(deployed.stderr);
});
t.teardown(() => gw.stop());

t.test('doctor finds what the local backend needs on this machine', async (t) => {
  const result = await execa(process.execPath, [CLI, 'doctor', '--json'], { reject: false });
  const report = JSON.parse(result.stdout);
  t.equal(result.exitCode, 0, result.stdout);
  t.equal(report.ok, true);
  t.same(report.checks.map((c: { name: string }) => c.name), ['node', 'cargo', 'crates']);
});

t.test('doctor says what the systemd backend lacks here, and how to get it', async (t) => {
  // This machine was not booted with systemd (the test host is where that backend is tested).
  const result = await execa(process.execPath, [CLI, 'doctor', '--backend', 'systemd'], { reject: false });
  t.equal(result.exitCode, 1);
  t.match(result.stdout, /MISSING\s+systemd\s+this system was not booted with systemd/);
  t.match(result.stdout, /fix: /);
  t.match(result.stdout, /not ready for the systemd backend/);
});

t.test('ls lists apps for people and as JSON for scripts', async (t) => {
  const text = await gw.cli(['ls']);
  t.match(text.stdout, /^APP\s+STATUS\s+BUILD\s+MEMORY/);
  // The local backend limits no memory: ls claims none, and says why once.
  t.match(text.stdout, /echo\s+ready\s+#1\s+none\s/);
  t.match(text.stdout, /\nmemory is not limited: the local backend sets no memory limits \(runners and builds are plain child processes\)\. Fix: use the systemd backend\n?$/);
  const json = JSON.parse((await gw.cli(['ls', '--json'])).stdout);
  t.match(json, [{ name: 'echo', status: 'ready', currentBuild: 1, routes: [{ methods: ['POST', 'PUT'], path: '/echo', function: 'Echo' }, { methods: ['*'], path: '/echo/*rest' }] }]);
  t.same(json[0].memory, { limit: '128M', enforced: false, reason: 'the local backend sets no memory limits (runners and builds are plain child processes)', fix: 'use the systemd backend' });
});

t.test('invoke sends one request through the public listener', async (t) => {
  const posted = await gw.cli(['invoke', 'POST', '/echo', '--data', '{"hi":"there"}']);
  t.equal(posted.exitCode, 0);
  t.same(JSON.parse(posted.stdout), { hi: 'there' });
  t.match(posted.stderr, /HTTP 201 in \d+ ms/);
  const json = JSON.parse((await gw.cli(['invoke', 'GET', '/nope', '--json'])).stdout);
  t.equal(json.status, 404);
  t.equal(json.body.error.code, 'RUSTLESS_NOT_FOUND');
  const bad = await gw.cli(['invoke', 'POST', '/echo', '--data', '{oops']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /--data must be JSON/);
});

t.test('logs show what the runner wrote', async (t) => {
  const logs = await gw.cli(['logs', 'echo']);
  t.match(logs.stdout, /POST \/echo -> Echo 201/);
});

t.test('errors name what was wrong', async (t) => {
  const unknown = await gw.cli(['frobnicate']);
  t.equal(unknown.exitCode, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  const missingApp = await gw.cli(['logs', 'ghost']);
  t.equal(missingApp.exitCode, 1);
  t.match(missingApp.stderr, /no app named "ghost"/);
  const notACrate = await gw.cli(['deploy', '/tmp']);
  t.not(notACrate.exitCode, 0);
  t.match(notACrate.stderr, /\/tmp is not a crate: it has no Cargo\.toml/);
  const noGateway = await execa(process.execPath, [CLI, 'ls', '--host', '/nonexistent/admin.sock'], { reject: false });
  t.equal(noGateway.exitCode, 1);
  t.match(noGateway.stderr, /nonexistent\/admin\.sock/);
});

t.test('global options go before or after the command, as with docker -H and kubectl --context', async (t) => {
  const before = await execa(process.execPath, [CLI, '--host', gw.adminSocket, '--json', 'ls'], { reject: false });
  t.equal(before.exitCode, 0, before.stderr);
  t.match(JSON.parse(before.stdout), [{ name: 'echo' }]);
  const mixed = await execa(process.execPath, [CLI, '--json', 'ls', '--host', gw.adminSocket], { reject: false });
  t.same(JSON.parse(mixed.stdout), JSON.parse(before.stdout));
  const misplaced = await execa(process.execPath, [CLI, '--verbose', 'deploy', join(EXAMPLES, 'echo')], { reject: false });
  t.equal(misplaced.exitCode, 2);
  t.match(misplaced.stderr, /--verbose is not a global option: put it after the command/);
});

t.test('help, for all and for one command', async (t) => {
  for (const args of [['help', 'deploy'], ['deploy', '--help'], ['--help', 'deploy']]) {
    const result = await execa(process.execPath, [CLI, ...args], { reject: false });
    t.equal(result.exitCode, 0, args.join(' '));
    t.match(result.stdout, /^usage: rustless deploy DIR/, args.join(' '));
  }
  const all = await execa(process.execPath, [CLI, 'help']);
  t.match(all.stdout, /rustless completion bash\|zsh\|fish/);
  t.notMatch(all.stdout, /__complete/, 'the completion helper is not for people');
});

t.test('argument mistakes are said before a gateway is looked for', async (t) => {
  // A host that would fail (and say so) if it were tried.
  const unreachable = ['--host', '/nonexistent/admin.sock'];
  const cases: Array<[string[], RegExp]> = [
    [['deploy'], /deploy: missing DIR/],
    [['logs'], /logs: missing APP/],
    [['export'], /export: missing APP/],
    [['invoke', 'GET', 'nopath'], /PATH must start with \//],
    [['invoke', 'POST', '/echo', '--data', '{oops'], /--data must be JSON/],
    [['rollback', 'echo', '--build', 'latest'], /--build must be a build id/],
    [['rm', 'echo', '--keep-data', '--delete-data'], /exclude each other/],
    [['secret', 'set', 'echo'], /secret set: missing NAME/],
    [['ls', 'extra'], /ls takes no arguments/],
    [['export', 'echo', '--kind', 'helm'], /--kind must be knative or deployment/],
  ];
  for (const [args, message] of cases) {
    const result = await execa(process.execPath, [CLI, ...unreachable, ...args], { reject: false });
    t.equal(result.exitCode, 2, args.join(' '));
    t.match(result.stderr, message, args.join(' '));
    t.notMatch(result.stderr, /nonexistent/, `${args.join(' ')}: no gateway was looked for`);
  }
});

t.test('an unknown command suggests the nearest one', async (t) => {
  const result = await execa(process.execPath, [CLI, 'lss'], { reject: false });
  t.equal(result.exitCode, 2);
  t.match(result.stderr, /unknown command "lss"; did you mean ls\?/);
});
