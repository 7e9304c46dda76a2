#!/usr/bin/env zx
// Issue 7 §3: does `systemctl restart rustless` under keep-alive load lose a request? In a booted
// trixie test host (scripts/lib/testhost.mjs) with rust-less installed by scripts/install.mjs
// (the e2e test's gateway flags) and runner/examples/{hello,testbed} deployed, it keeps
// --keep-alive clients sending back to back (each on one connection of its own, as the e2e test
// does) and --fresh clients opening a connection per request, restarts the gateway --restarts
// times, and prints every request that got no 200: the client's error, ms into the restart it
// was sent and failed, its path, and its connection (fresh or reused, the how-many-th request
// on it, when it was opened, whether the answer before it said `connection: close`).
// Each restart is one round of the e2e test: new clients, the restart --lead ms (0.2-1.8x at
// random) after they start, 20 more requests each once it returned. Rounds cycle through
// --modes: warm (the apps run), idle (no load for 5.5 s first, so the gateway's 4 s idle timeout
// has stopped them), stopped (`rustless stop` of both first), follow (a `rustless logs -f`
// running through the restart).
// Flags: --restarts 20, --keep-alive 4, --fresh 2, --lead 500, --modes warm,idle,stopped,
// --name restart-hunt, --out FILE (every request as JSON), --keep (leave the host up), --reuse
// (use the host --keep left: reinstall rust-less from dist/, keep the apps).
// Run `npm run build` first. Needs root; wrap it in `flock /tmp/rustless-testhost.lock`.
import diagnostics from 'node:diagnostics_channel';
import { createServer } from 'node:net';
import { Agent, request } from 'undici';
import { freePort } from './lib/free-port.mjs';
import { attach, boot, down, list } from './lib/testhost.mjs';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const NAME = String(argv.name ?? 'restart-hunt');
const SRC = '/src/rustless';
const restarts = Number(argv.restarts ?? 20);
const keepAliveClients = Number(argv['keep-alive'] ?? 4);
const freshClients = Number(argv.fresh ?? 2);
const leadMs = Number(argv.lead ?? 500);
const modes = String(argv.modes ?? 'warm,idle,stopped').split(',');
const log = (text) => process.stderr.write(`[restart-hunt] ${text}\n`);

if (process.getuid() !== 0) throw new Error('restart-hunt needs root (it boots the test host)');
if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');

// What the client saw of each connection, from undici's diagnostics channels.
const sockets = new WeakMap();
const sent = new Map();
let socketSeq = 0;
diagnostics.subscribe('undici:client:connected', ({ socket }) => {
  const info = { id: ++socketSeq, openedAt: Date.now(), requests: 0, closedAt: undefined, lastConnectionHeader: undefined };
  sockets.set(socket, info);
  socket.once('close', () => (info.closedAt = Date.now()));
});
diagnostics.subscribe('undici:client:sendHeaders', ({ headers, socket }) => {
  const id = /x-hunt-id: (\d+)/i.exec(String(headers))?.[1];
  const info = sockets.get(socket);
  if (!id || !info) return;
  info.requests++;
  sent.set(Number(id), { socket: info, nth: info.requests, sentAt: Date.now(), previousAnswer: info.lastConnectionHeader });
});

const modules = fs.realpathSync(path.join(root, 'node_modules'));
const binds = [{ host: root, guest: SRC, readOnly: true }, ...(modules.startsWith(`${root}/`) ? [] : [{ host: modules, guest: modules, readOnly: true }])];
const reuse = argv.reuse && (await list()).some((instance) => instance.name === NAME && instance.running);
const host = reuse ? await attach(NAME) : await boot({ name: NAME, binds, log });
try {
  const port = reuse ? Number((await guest('systemctl show -p Listen --value rustless.socket')).stdout.match(/:(\d+) \(Stream\)/)?.[1]) : (await portFree(8080)) ? 8080 : await freePort();
  log(`install rust-less on port ${port}`);
  await guest(`cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${port} --gateway-flags="--idle-timeout 4 --access-log"`);
  if (!reuse) {
    log('deploy hello and testbed');
    await guest('mkdir -p /root/apps && for app in hello testbed; do rm -rf /root/apps/$app; cp -r /src/rustless/runner/examples/$app /root/apps/$app; rm -rf /root/apps/$app/target; done');
    await guest('rustless deploy /root/apps/hello');
    await guest('rustless deploy /root/apps/testbed');
  }
  const base = `http://127.0.0.1:${port}`;
  for (const p of ['/hello/warm', '/version']) {
    const response = await request(`${base}${p}`);
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`${p}: status ${response.statusCode}`);
  }

  const records = [];
  const restartLog = [];
  let seq = 0;
  let round = 0;
  const send = async (dispatcher, kind, client, urlPath) => {
    const id = ++seq;
    const record = { id, round, kind, client, path: urlPath, startedAt: Date.now() };
    records.push(record);
    try {
      const response = await request(`${base}${urlPath}`, { dispatcher, headers: { 'x-hunt-id': String(id) } });
      await response.body.text();
      record.status = response.statusCode;
      const info = sent.get(id)?.socket;
      if (info) info.lastConnectionHeader = String(response.headers.connection ?? 'keep-alive');
    } catch (error) {
      record.status = 0;
      record.error = `${error.code ?? error.name}: ${error.message}`;
    }
    record.endedAt = Date.now();
  };
  const mainPid = async () => (await guest('systemctl show -p MainPID --value rustless.service')).stdout.trim();
  for (let i = 0; i < restarts; i++) {
    round = i;
    // systemd's start limit (5 starts in 10 s) counts `systemctl restart` too: keep under it.
    const roundStarted = Date.now();
    // Like the e2e test: the apps warm, or stopped (an idle timeout, `rustless stop`), so the
    // load's first requests cold-start them around the restart.
    const mode = modes[i % modes.length];
    if (mode === 'idle') await sleep(5500);
    if (mode === 'stopped') await guest('rustless stop hello && rustless stop testbed');
    // A `rustless logs -f` follower: the gateway runs `journalctl -f` for it all along.
    const follower = mode === 'follow' ? host.run(['timeout', '20', 'rustless', 'logs', '-f', 'testbed']) : undefined;
    if (follower) await sleep(500);
    // New clients each round, as in the e2e test; the restart `lead` ms after they start.
    const keepAlive = Array.from({ length: keepAliveClients }, () => new Agent({ connections: 1, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 }));
    const fresh = new Agent({ pipelining: 0, headersTimeout: 60_000, bodyTimeout: 60_000 });
    let done = false;
    const load = [
      ...keepAlive.map(async (agent, c) => {
        for (let extra = 0; !done || extra++ < 20; ) await send(agent, 'keep-alive', c, c % 2 ? '/version' : '/hello/keep');
      }),
      ...Array.from({ length: freshClients }, async (_, c) => {
        for (let extra = 0; !done || extra++ < 5; ) {
          await send(fresh, 'fresh', c, '/version');
          await sleep(20);
        }
      }),
    ];
    const lead = Math.round(leadMs * (0.2 + 1.6 * Math.random()));
    await sleep(lead);
    let entry;
    try {
      const before = await mainPid();
      const at = Date.now();
      await guest('systemctl restart rustless');
      entry = { i, mode, lead, at, ms: Date.now() - at, before, after: await mainPid() };
    } finally {
      done = true;
    }
    await follower;
    await Promise.all(load);
    await Promise.all([...keepAlive, fresh].map((agent) => agent.close()));
    restartLog.push(entry);
    await sleep(Math.max(0, 2_500 - (Date.now() - roundStarted)));
    log(`restart ${i + 1}/${restarts} (${mode}, ${lead} ms into the load): ${entry.ms} ms, gateway ${entry.before} -> ${entry.after}; ${records.length} requests so far, ${records.filter(failed).length} lost`);
  }

  const nRestarts = (await guest('systemctl show -p NRestarts --value rustless.service')).stdout.trim();
  const lost = records.filter(failed);
  const byKind = (kind) => records.filter((r) => r.kind === kind).length;
  console.log(`${restarts} restarts, modes ${modes.join(',')} (systemctl restart took ${Math.min(...restartLog.map((r) => r.ms))}-${Math.max(...restartLog.map((r) => r.ms))} ms; NRestarts ${nRestarts})`);
  console.log(`${records.length} requests: ${byKind('keep-alive')} on ${keepAliveClients} keep-alive clients, ${byKind('fresh')} on fresh connections from ${freshClients} clients`);
  console.log(`${lost.length} lost`);
  for (const r of lost) {
    const restart = restartLog[r.round];
    const s = sent.get(r.id);
    const into = (t) => `${t - restart.at} ms`;
    const connection = s
      ? `socket #${s.socket.id} (opened ${into(s.socket.openedAt)}, request ${s.nth} on it, the answer before said ${s.previousAnswer ?? '-'}, closed ${s.socket.closedAt ? into(s.socket.closedAt) : 'never'}), sent ${into(s.sentAt)}`
      : 'never sent';
    console.log(`  #${r.id} ${r.kind} client ${r.client} GET ${r.path}: ${r.status || r.error}; restart ${restart.i + 1} (${restart.mode}): started ${into(r.startedAt)}, failed ${into(r.endedAt)} into it; ${connection}`);
  }
  if (argv.out) await fs.writeJson(String(argv.out), { restarts: restartLog, records: records.map((r) => ({ ...r, sent: sent.get(r.id) && { ...sent.get(r.id), socket: { ...sent.get(r.id).socket } } })) }, { spaces: 1 });
  if (lost.length > 0) {
    const since = new Date(restartLog[0].at - 1000).toISOString().replace('T', ' ').replace(/\..*/, '');
    const journal = await host.run(['journalctl', '-u', 'rustless.service', '--since', since, '-o', 'short-precise', '--no-pager']);
    const file = path.join(os.tmpdir(), `restart-hunt-journal-${Date.now()}.log`);
    await fs.writeFile(file, journal.stdout);
    log(`the gateway's journal over the run: ${file}`);
  }
  process.exitCode = lost.length > 0 ? 1 : 0;
} finally {
  if (!argv.keep) await down({ name: NAME, log });
  else log(`left running: node scripts/testhost.mjs shell --name ${NAME}`);
}

function failed(record) {
  return record.status !== undefined && record.status !== 200;
}

/** A guest command with a clean environment; rejects when it fails. */
async function guest(cmd) {
  const env = ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8'];
  const result = await host.run([...env, '/bin/sh', '-c', cmd]);
  if (result.exitCode !== 0) throw new Error(`${cmd} exited ${result.exitCode}:\n${result.stdout}${result.stderr}`);
  return result;
}

function portFree(candidate) {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(candidate, '0.0.0.0', () => server.close(() => resolveFree(true)));
  });
}
