// The hard part of the systemd backend, proven end to end without the gateway or the runner:
// in a booted trixie test host, Podman builds FROM-scratch images from static binaries, and a
// Quadlet .container plus a .socket unit give a socket-activated, restartable service.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { boot, down, list, runDirOf, cachedRootPath } from '../../scripts/lib/testhost.mjs';

const NAME = 'smoke';
const APP = 'rustless-fn-smoke';
const SOCK = '/run/rustless/fn/smoke.sock';

if (process.getuid?.() !== 0) {
  t.skip('the test host needs root');
  process.exit(0);
}
// The first run debootstraps the cached root (a few minutes); later runs boot in seconds.
t.setTimeout(20 * 60_000);

// A tiny socket-activated HTTP server: takes the listening socket from fd 3 (LISTEN_FDS),
// says READY=1 on $NOTIFY_SOCKET, answers every connection with its pid and a counter, and
// exits 0 on SIGTERM.
const SERVER_C = String.raw`
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
static void notify(const char *msg) {
  const char *p = getenv("NOTIFY_SOCKET");
  if (!p || !*p) return;
  struct sockaddr_un sa; memset(&sa, 0, sizeof sa); sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, p, sizeof sa.sun_path - 1);
  if (p[0] == '@') sa.sun_path[0] = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + strlen(p));
  close(fd);
}
// PID 1 of a container gets no default SIGTERM action: without a handler, every stop
// would wait out the stop timeout and end in SIGKILL.
static void on_term(int sig) { (void)sig; notify("STOPPING=1"); _exit(0); }
int main(void) {
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  const char *n = getenv("LISTEN_FDS");
  if (!n || atoi(n) < 1) { fprintf(stderr, "no LISTEN_FDS\n"); return 2; }
  notify("READY=1");
  fprintf(stderr, "smoke server ready\n");
  for (unsigned long count = 1;; count++) {
    int c = accept(3, 0, 0);
    if (c < 0) continue;
    char buf[4096]; ssize_t r = read(c, buf, sizeof buf); (void)r;
    char body[128]; int bl = snprintf(body, sizeof body, "{\"server\":\"smoke\",\"pid\":%d,\"count\":%lu}", (int)getpid(), count);
    char out[512]; int ol = snprintf(out, sizeof out,
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", bl, body);
    if (write(c, out, ol) < 0) perror("write");
    close(c);
  }
}
`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'testhost-smoke-'));
t.teardown(async () => {
  await down({ name: NAME, log: () => {} });
  fs.rmSync(work, { recursive: true, force: true });
});

function gccStatic(src, out) {
  execFileSync('gcc', ['-static', '-O2', '-x', 'c', '-', '-o', path.join(work, out)], { input: src });
}

let host;
const sh = async (cmd, opts) => {
  const r = await host.run(cmd, opts);
  t.comment(`$ ${cmd} -> ${r.exitCode}`);
  return r;
};
const ok = async (tt, cmd, msg) => {
  const r = await sh(cmd);
  tt.equal(r.exitCode, 0, msg ?? cmd, { stdout: r.stdout, stderr: r.stderr });
  return r;
};

t.test('boot the test host', async (t) => {
  gccStatic('#include <stdio.h>\nint main(){puts("hello from scratch");return 0;}', 'hello');
  gccStatic(SERVER_C, 'server');
  const t0 = Date.now();
  host = await boot({ name: NAME });
  t.comment(`boot took ${Date.now() - t0} ms`);
  t.ok(host.pid > 1, `systemd pid ${host.pid}`);
  t.equal(fs.readFileSync(`/proc/${host.pid}/comm`, 'utf8').trim(), 'systemd');
  t.match((await ok(t, 'systemctl is-system-running')).stdout, /running|degraded/);
  t.match((await ok(t, 'cat /etc/os-release')).stdout, /trixie/);
  t.equal((await sh('exit 7')).exitCode, 7, 'exit codes pass through');
  t.equal((await host.run('cat', { input: 'piped' })).stdout, 'piped', 'stdin reaches the guest');
  t.ok(list().find((i) => i.name === NAME)?.running, 'listed as running');
  fs.mkdirSync(path.join(work, 'shared'));
  fs.writeFileSync(path.join(work, 'shared/from-host'), 'host says hi');
  await host.bindIn(path.join(work, 'shared'), '/mnt/shared');
  t.equal((await ok(t, 'cat /mnt/shared/from-host')).stdout, 'host says hi', 'bindIn shows a host dir inside');
  await ok(t, 'echo -n guest says hi > /mnt/shared/from-guest');
  t.equal(fs.readFileSync(path.join(work, 'shared/from-guest'), 'utf8'), 'guest says hi', 'and it is writable');
});

t.test('podman runs a FROM-scratch image of a static binary', async (t) => {
  await host.copyIn(path.join(work, 'hello'), '/root/hello/hello');
  await host.writeFile('/root/hello/Containerfile', 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n');
  await ok(t, 'podman build -q -t localhost/smoke-hello /root/hello');
  const r = await ok(t, 'podman run --rm --network=none localhost/smoke-hello');
  t.equal(r.stdout.trim(), 'hello from scratch');
});

t.test('quadlet + socket activation', async (t) => {
  await host.copyIn(path.join(work, 'server'), '/root/server/server');
  await host.writeFile('/root/server/Containerfile', 'FROM scratch\nCOPY server /server\nENTRYPOINT ["/server"]\n');
  await ok(t, 'podman build -q -t localhost/smoke-server /root/server');

  await host.writeFile(
    `/etc/containers/systemd/${APP}.container`,
    `[Unit]
Description=rustless smoke function app
Requires=${APP}.socket
After=${APP}.socket

[Container]
Image=localhost/smoke-server
ContainerName=${APP}
Network=none
Notify=true
ReadOnly=true
DropCapability=all
NoNewPrivileges=true
PodmanArgs=--memory=64m --pids-limit=32

[Service]
TimeoutStopSec=10
`,
  );
  await host.writeFile(
    `/etc/systemd/system/${APP}.socket`,
    `[Unit]
Description=rustless smoke function app socket

[Socket]
ListenStream=${SOCK}
SocketMode=0660
DirectoryMode=0755

[Install]
WantedBy=sockets.target
`,
  );
  await ok(t, 'systemctl daemon-reload');
  await ok(t, `systemctl start ${APP}.socket`);
  t.equal((await sh(`systemctl is-active ${APP}.socket`)).stdout.trim(), 'active', 'socket listening');
  t.equal((await sh(`systemctl is-active ${APP}.service`)).stdout.trim(), 'inactive', 'service not started yet');

  const cat = await ok(t, `systemctl cat ${APP}.service`);
  t.match(cat.stdout, /\/run\/systemd\/generator\/rustless-fn-smoke\.service/, 'quadlet generated the service');
  t.match(cat.stdout, /ExecStart=.*podman run .*--network none.*localhost\/smoke-server/s);
  t.match(cat.stdout, /--sdnotify=container/);
  await ok(t, `systemd-analyze verify /run/systemd/generator/${APP}.service`);

  const curl = `curl -sS --max-time 20 --unix-socket ${SOCK} http://fn/hello`;
  let t0 = Date.now();
  const first = await ok(t, curl, 'first request cold-starts the container');
  t.comment(`cold start answered in ${Date.now() - t0} ms`);
  const a = JSON.parse(first.stdout);
  t.match(a, { server: 'smoke', count: 1 });
  t.equal((await sh(`systemctl is-active ${APP}.service`)).stdout.trim(), 'active', 'service active');
  const second = JSON.parse((await ok(t, curl)).stdout);
  t.match(second, { pid: a.pid, count: 2 }, 'warm request served by the same process');
  t.match((await sh(`podman ps --format '{{.Names}}'`)).stdout, new RegExp(APP));

  await ok(t, `systemctl stop ${APP}.service`);
  t.equal((await sh(`systemctl is-active ${APP}.service`)).stdout.trim(), 'inactive', 'service stopped');
  t.equal((await sh(`systemctl is-active ${APP}.socket`)).stdout.trim(), 'active', 'socket still listening');
  t0 = Date.now();
  const again = JSON.parse((await ok(t, curl, 'next request re-activates')).stdout);
  t.comment(`re-activation answered in ${Date.now() - t0} ms`);
  t.match(again, { server: 'smoke', count: 1 }, 'a fresh process answered');
  t.equal((await sh(`systemctl is-active ${APP}.service`)).stdout.trim(), 'active');
  t.match((await sh(`journalctl -u ${APP}.service --no-pager`)).stdout, /smoke server ready/, 'journal per unit');
});

t.test('the guest shares the host network', async (t) => {
  const port = 20000 + (process.pid % 20000);
  await ok(t, `systemd-run --unit=smoke-http node -e "require('http').createServer((q, s) => s.end('from guest')).listen(${port}, '127.0.0.1')"`);
  let body;
  for (let i = 0; i < 50 && body === undefined; i++) {
    try {
      body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  t.equal(body, 'from guest');
});

t.test('down leaves nothing behind', async (t) => {
  const { pid, runDir } = host;
  const pidns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
  t.notOk(fs.existsSync(path.join(cachedRootPath(), 'etc/containers/systemd', `${APP}.container`)), 'the cached root stays clean');
  const r = await down({ name: NAME });
  t.comment(`down took ${r.seconds} s`);
  t.ok(r.stopped);
  t.notOk(r.killed, 'systemd powered off by itself');
  t.notOk(fs.existsSync(`/proc/${pid}`), 'systemd is gone');
  t.notOk(fs.existsSync(runDir), 'run dir removed');
  t.equal(runDir, runDirOf(NAME));
  const mounts = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
  t.notMatch(mounts, /rustless-testhost/, 'no mounts left (findmnt)');
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  t.notMatch(ps, new RegExp(`^\\s*${pid}\\s|${runDir}|/server$|conmon .*${APP}`, 'm'), 'no processes left (ps)');
  const inOurPidns = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readlinkSync(`/proc/${p}/ns/pid`) === pidns;
      } catch {
        return false;
      }
    });
  t.same(inOurPidns, [], `no process left in the guest's pid namespace ${pidns}`);
  const inOurCgroup = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`rustless-testhost-${NAME}`);
      } catch {
        return false;
      }
    });
  t.same(inOurCgroup, [], 'no process in the instance cgroups');
  t.notOk(fs.existsSync(`/sys/fs/cgroup/systemd/rustless-testhost-${NAME}`), 'instance cgroup removed');
  // Nothing left to stop or kill; how long it took to find that out is the machine's business
  // (0.1 s once, with a VM and the e2e suite beside it).
  const again = await down({ name: NAME });
  t.same({ stopped: again.stopped, killed: again.killed }, { stopped: false, killed: false }, 'down is idempotent: nothing stopped or killed');
});
