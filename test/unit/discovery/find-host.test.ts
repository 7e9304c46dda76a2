// findHost: the lookup order of issue 4 (--host, RUSTLESS_HOST, config file, admin sockets,
// DNS-SD), where the token comes from, and the error that lists what was tried.
import t from 'tap';
import { createServer, type Server } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultStateDir, findHost, userConfigFile } from '../../../src/discovery/find-host.js';
import { RustlessError } from '../../../src/errors.js';

let home: string;
const servers: Server[] = [];
t.before(async () => {
  home = await mkdtemp(join(tmpdir(), 'rustless-findhost-'));
});
t.teardown(async () => {
  for (const server of servers) server.close();
  await rm(home, { recursive: true, force: true });
});

/** A clean environment: nothing set but HOME, so only what a test adds can be found. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { HOME: home, ...extra };
}
const nothing = { systemSocket: join(tmpdir(), 'rustless-no-such.sock'), browse: async () => [] };

async function listenOn(path: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const server = createServer((socket) => socket.end());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

t.test('default paths follow XDG, else ~/.config and ~/.local/state (root: /var/lib/rustless-local)', async (t) => {
  t.equal(defaultStateDir({ HOME: '/home/pi' }, 1000), '/home/pi/.local/state/rustless');
  t.equal(defaultStateDir({ HOME: '/home/pi', XDG_STATE_HOME: '/x/state' }, 1000), '/x/state/rustless');
  t.equal(defaultStateDir({ HOME: '/root' }, 0), '/var/lib/rustless-local', "root's home is closed to the function user");
  t.equal(userConfigFile({ HOME: '/home/pi' }), '/home/pi/.config/rustless/config.json');
  t.equal(userConfigFile({ HOME: '/home/pi', XDG_CONFIG_HOME: '/x/cfg' }), '/x/cfg/rustless/config.json');
});

t.test('--host wins over everything, as a URL or a socket path', async (t) => {
  const found = await findHost({ host: 'http://pi.local:7070/', token: 'tok', env: env({ RUSTLESS_HOST: '/elsewhere.sock', RUSTLESS_TOKEN: 'envtok' }), ...nothing });
  t.same(found, { host: { kind: 'url', url: 'http://pi.local:7070', token: 'tok' }, via: '--host' });
  const socket = await findHost({ host: '/run/x/admin.sock', env: env(), ...nothing });
  t.same(socket, { host: { kind: 'socket', path: '/run/x/admin.sock' }, via: '--host' });
  await t.rejects(findHost({ host: 'ftp://pi', env: env(), ...nothing }), { code: 'RUSTLESS_BAD_REQUEST', message: /--host: expected ssh:\/\/\[user@\]host\[:port\]\[\/path\/to\/admin.sock\], an http:\/\/host:port URL or an admin socket path, got "ftp:\/\/pi"/ });
});

t.test('ssh:// hosts: user, port and socket, the socket defaulting to the installed one', async (t) => {
  const full = await findHost({ host: 'ssh://pi@raspberrypi.local:2222/srv/rustless/admin.sock', env: env(), ...nothing });
  t.same(full.host, { kind: 'ssh', destination: 'pi@raspberrypi.local', port: 2222, socketPath: '/srv/rustless/admin.sock', url: 'ssh://pi@raspberrypi.local:2222/srv/rustless/admin.sock' });
  const bare = await findHost({ env: env({ RUSTLESS_HOST: 'ssh://raspberrypi.local' }), ...nothing });
  t.same(bare, { host: { kind: 'ssh', destination: 'raspberrypi.local', port: undefined, socketPath: '/run/rustless/admin.sock', url: 'ssh://raspberrypi.local' }, via: 'RUSTLESS_HOST' });
  const v6 = await findHost({ host: 'ssh://root@[fe80::1]/', env: env(), ...nothing });
  t.match(v6.host, { destination: 'root@fe80::1', socketPath: '/run/rustless/admin.sock' });
  await t.rejects(findHost({ host: 'ssh://pi:secret@pi/', env: env(), ...nothing }), { code: 'RUSTLESS_BAD_REQUEST', message: /no password, query or fragment/ });
});

t.test('RUSTLESS_HOST comes next, with RUSTLESS_TOKEN', async (t) => {
  const found = await findHost({ env: env({ RUSTLESS_HOST: 'http://10.0.0.2:7070', RUSTLESS_TOKEN: 'envtok' }), ...nothing });
  t.same(found, { host: { kind: 'url', url: 'http://10.0.0.2:7070', token: 'envtok' }, via: 'RUSTLESS_HOST' });
});

t.test('then the config file, whose token is used when no other is given', async (t) => {
  const cfgHome = join(home, 'cfg1');
  await mkdir(join(cfgHome, 'rustless'), { recursive: true });
  await writeFile(join(cfgHome, 'rustless', 'config.json'), JSON.stringify({ host: 'http://pi:7070', token: 'filetok' }));
  const found = await findHost({ env: env({ XDG_CONFIG_HOME: cfgHome }), ...nothing });
  t.same(found.host, { kind: 'url', url: 'http://pi:7070', token: 'filetok' });
  t.match(found.via, /^config file .*cfg1\/rustless\/config\.json$/);
  const overridden = await findHost({ token: 'flag', env: env({ XDG_CONFIG_HOME: cfgHome }), ...nothing });
  t.same(overridden.host, { kind: 'url', url: 'http://pi:7070', token: 'flag' }, '--token beats the file');
});

t.test('then the system admin socket, then the per-user one', async (t) => {
  const system = join(home, 'run', 'admin.sock');
  const stateHome = join(home, 'state');
  const user = join(stateHome, 'rustless', 'admin.sock');
  await listenOn(user);
  const viaUser = await findHost({ env: env({ XDG_STATE_HOME: stateHome }), systemSocket: system, browse: async () => [] });
  t.same(viaUser, { host: { kind: 'socket', path: user }, via: `admin socket ${user}` });
  await listenOn(system);
  const viaSystem = await findHost({ env: env({ XDG_STATE_HOME: stateHome }), systemSocket: system, browse: async () => [] });
  t.same(viaSystem.host, { kind: 'socket', path: system }, 'the system socket comes first');
});

t.test('then DNS-SD: ssh:// to the machine found, or its TCP listener with a token', async (t) => {
  let asked: number | undefined;
  const browse = async ({ timeoutMs }: { timeoutMs: number }) => {
    asked = timeoutMs;
    return [{ ssh: 'ssh://10.231.0.1/run/rustless/admin.sock', url: 'http://10.231.0.1:7070', name: 'pi' }];
  };
  const withToken = await findHost({ env: env({ RUSTLESS_TOKEN: 'envtok' }), systemSocket: nothing.systemSocket, browseTimeoutMs: 250, browse });
  t.equal(asked, 250);
  t.same(withToken, { host: { kind: 'url', url: 'http://10.231.0.1:7070', token: 'envtok' }, via: 'DNS-SD _rustless._tcp (pi)' });
  const viaSsh = await findHost({ env: env(), systemSocket: nothing.systemSocket, browseTimeoutMs: 250, browse });
  t.same(viaSsh, {
    host: { kind: 'ssh', destination: '10.231.0.1', port: undefined, socketPath: '/run/rustless/admin.sock', url: 'ssh://10.231.0.1/run/rustless/admin.sock' },
    via: 'DNS-SD _rustless._tcp (pi, ssh://10.231.0.1/run/rustless/admin.sock)',
  });
});

t.test('none found: the error lists every place tried and why', async (t) => {
  const stateHome = join(home, 'stale');
  const stale = join(stateHome, 'rustless', 'admin.sock');
  await listenOn(stale);
  servers.at(-1)!.close();
  // A stale socket file: the listener is gone but the path is still there.
  await writeFile(join(home, 'not-a-socket'), '');
  const cfgHome = join(home, 'cfg-bad');
  await mkdir(join(cfgHome, 'rustless'), { recursive: true });
  await writeFile(join(cfgHome, 'rustless', 'config.json'), '{"host": 42}');
  const error = await findHost({ env: env({ XDG_STATE_HOME: stateHome, XDG_CONFIG_HOME: cfgHome }), systemSocket: join(home, 'not-a-socket'), browseTimeoutMs: 100, browse: async () => [] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof RustlessError);
  const e = error as RustlessError;
  t.equal(e.code, 'RUSTLESS_HOST_NOT_FOUND');
  const lines = e.message.split('\n');
  t.equal(lines[0], 'no rustless gateway found; tried, in order:');
  t.equal(lines[1], '  - --host: not given');
  t.equal(lines[2], '  - RUSTLESS_HOST: not set');
  t.match(lines[3], /config file .*cfg-bad\/rustless\/config\.json: "host" must be a string, got 42/);
  t.match(lines[4], /admin socket .*not-a-socket: not a socket/);
  t.match(lines[5], /admin socket .*stale\/rustless\/admin\.sock: (connection refused|no such file)/);
  t.equal(lines[6], '  - DNS-SD _rustless._tcp on the local network: no answer within 100 ms');
  t.match(lines[7], /--host/);
  t.same((e.details?.tried as string[]).length, 6);
});

t.test('a missing config file and socket say so', async (t) => {
  const error = (await findHost({ env: env({ XDG_STATE_HOME: join(home, 'none') }), systemSocket: join(home, 'nope.sock'), browseTimeoutMs: 50, browse: async () => [] }).catch((e: unknown) => e)) as RustlessError;
  t.match(error.message, /config file .*: no such file/);
  t.match(error.message, /nope\.sock: no such file/);
});
