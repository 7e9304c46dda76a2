// DNS-SD across hosts: two network namespaces joined by a veth pair. A gateway (or a bare
// advertiser) in one is found from the other, by `browse` and by the CLI's host lookup.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { createNetnsPair, type NetnsPair } from './fixtures/netns.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const DNS_SD = join(ROOT, 'dist', 'discovery', 'dns-sd.js');
const TOKEN = 'a-test-token-of-32-characters-ok';

let net: NetnsPair;
let work: string;
const children: ChildProcess[] = [];

t.before(async () => {
  net = await createNetnsPair();
  work = await mkdtemp(join(tmpdir(), 'rustless-dnssd-'));
});
t.teardown(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((done) => child.once('exit', done)) : undefined)));
  await net.destroy();
  await rm(work, { recursive: true, force: true });
});

/** Starts a command inside a namespace and waits for a line matching `ready`. */
async function startIn(ns: string, argv: string[], ready: RegExp): Promise<ChildProcess> {
  const [file, ...args] = [...net.exec(ns), ...argv];
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  await new Promise<void>((done, fail) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (ready.test(line)) done();
    });
    child.once('exit', (code) => fail(new Error(`${argv.join(' ')} exited with ${code}:\n${output.join('\n')}`)));
  });
  return child;
}

t.test('browse in one namespace finds what advertise announces in the other', async (t) => {
  const script = `const { advertise } = await import(${JSON.stringify(DNS_SD)});
const ad = advertise({ port: 7171, name: 'rustless test advert', adminSocket: '/srv/rl/admin.sock' });
console.log('advertising');
process.on('SIGTERM', () => ad.stop().then(() => process.exit(0)));`;
  const advertiser = await startIn(net.a, [process.execPath, '--input-type=module', '-e', script], /advertising/);
  const browse = `const { browse } = await import(${JSON.stringify(DNS_SD)});
console.log(JSON.stringify(await browse({ timeoutMs: 3000 })));`;
  const { stdout } = await execa(net.exec(net.b)[0]!, [...net.exec(net.b).slice(1), process.execPath, '--input-type=module', '-e', browse]);
  const found = JSON.parse(stdout) as Array<{ url: string; name: string }>;
  t.same(found, [{ ssh: 'ssh://10.231.0.1/srv/rl/admin.sock', url: 'http://10.231.0.1:7171', name: 'rustless test advert' }], 'ssh:// and the URL, with the address on the veth');

  advertiser.kill('SIGTERM');
  await new Promise((done) => advertiser.once('exit', done));
  const after = await execa(net.exec(net.b)[0]!, [...net.exec(net.b).slice(1), process.execPath, '--input-type=module', '-e', browse]);
  t.same(JSON.parse(after.stdout), [], 'nothing once the advertiser stopped');
});

t.test('the CLI in one namespace finds a gateway in the other, and uses its token', async (t) => {
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const stateDir = join(work, 'gateway-state');
  await startIn(
    net.a,
    [process.execPath, CLI, 'gateway', '--backend', 'local', '--port', '0', '--listen', '0.0.0.0', '--state-dir', stateDir, '--admin-port', '7272', '--admin-listen', '0.0.0.0', '--admin-token-file', tokenFile],
    /listening on/,
  );
  // A home with no config and no sockets: only DNS-SD can find the gateway.
  const home = join(work, 'home');
  const cli = (env: Record<string, string>) =>
    execa(net.exec(net.b)[0]!, [...net.exec(net.b).slice(1), 'env', '-i', `HOME=${home}`, `PATH=${process.env.PATH}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, 'ls', '--json'], { reject: false });

  const ok = await cli({ RUSTLESS_TOKEN: TOKEN });
  t.equal(ok.exitCode, 0, `rustless ls found the gateway: ${ok.stderr}`);
  t.doesNotThrow(() => JSON.parse(ok.stdout), 'answers JSON');

  const wrong = await cli({ RUSTLESS_TOKEN: 'wrong-token-wrong-token-wrong-tok' });
  t.not(wrong.exitCode, 0, 'a wrong token is refused');
  t.match(wrong.stderr, /token|401|unauthori/i);
});
