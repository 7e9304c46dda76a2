// A build in a child process (src/backends/build-in-child.ts): what the gateway gets back for
// each way a build ends, with a real fork and a real IPC channel; the build function itself is
// the fixture's (the systemd suite runs the real one).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildInChild } from '../../../src/backends/build-in-child.js';
import type { BuildJob, BuildOutput } from '../../../src/backends/backend.js';
import { isRustlessError, RustlessError } from '../../../src/errors.js';
import { isNoSpace } from '../../../src/storage/no-space.js';

const ENTRY = new URL('./fixtures/child-build.ts', import.meta.url);

function job(app: string, signal?: AbortSignal): BuildJob {
  return {
    app,
    buildId: 7,
    crateDir: '/tmp/b/7',
    buildDir: '/tmp/b/7',
    binaryName: 'rustless-app-x',
    manifest: {} as BuildJob['manifest'],
    cargoConfig: [],
    crateSource: 'debian',
    toolchain: { cargo: '/usr/bin/cargo' } as BuildJob['toolchain'],
    runnerDir: '/tmp/runner',
    ...(signal ? { signal } : {}),
  };
}

function recorder(onLine?: (text: string) => void): { output: BuildOutput; events: string[] } {
  const events: string[] = [];
  return {
    events,
    output: {
      line: (text) => {
        events.push(text);
        onLine?.(text);
      },
      progress: (done, total, compiled) => events.push(`progress ${done}/${total} (${compiled})`),
    },
  };
}

t.test('a build that succeeds: its lines and progress in order, then the artifact', async (t) => {
  const { output, events } = recorder();
  const artifact = await buildInChild(ENTRY, job('ok'), output, { image: 'localhost/rustless-ok:7' });
  t.same(artifact, { binaryPath: '/tmp/b/7/runner', image: 'localhost/rustless-ok:7' });
  t.same(events.slice(0, 3), ['compiling rustless-app-x with /usr/bin/cargo', 'progress 3/7 (2)', 'done']);
  // Its own cost last: a node process, tens of MiB.
  t.match(events[3], /^rustless: peak memory of the build process \d+ MiB, \d+ MiB of it its own \(node, outside the sandbox; it exits with the build\)$/);
  t.equal(events.length, 4);
});

t.test('a build that leaves a timer running still ends', async (t) => {
  const artifact = await buildInChild(ENTRY, job('lingering'), recorder().output, { image: '' });
  t.same(artifact, { binaryPath: '/tmp/b/7/runner' });
});

t.test("a failed build's RustlessError arrives with its code and details", async (t) => {
  const error = await buildInChild(ENTRY, job('fails'), recorder().output, { image: '' }).catch((e: unknown) => e);
  t.ok(isRustlessError(error, 'RUSTLESS_BUILD_FAILED'), String(error));
  t.equal((error as RustlessError).message, 'the build ran out of memory');
  t.same((error as RustlessError).details, { oomKill: true, memoryMax: '2G' });
});

t.test('a full disk in the child is still a full disk to the builder', async (t) => {
  const error = await buildInChild(ENTRY, job('no-space'), recorder().output, { image: '' }).catch((e: unknown) => e);
  t.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  t.ok(isNoSpace(error));
});

t.test('a cancelled build is told so, stops what it started, and ends', async (t) => {
  const controller = new AbortController();
  const { output, events } = recorder((text) => {
    if (text === 'waiting') controller.abort();
  });
  const error = await buildInChild(ENTRY, job('waits', controller.signal), output, { image: '' }).catch((e: unknown) => e);
  t.ok(isRustlessError(error, 'RUSTLESS_BUILD_FAILED'));
  t.equal((error as Error).message, 'the build was cancelled');
  t.same(events.slice(0, 2), ['waiting', 'stopping what it started']);
});

t.test('a cancelled build whose process does not stop is killed after the grace, and fails saying so', async (t) => {
  const controller = new AbortController();
  const { output } = recorder((text) => {
    if (text === 'waiting') controller.abort();
  });
  const t0 = Date.now();
  const error = await buildInChild(ENTRY, job('deaf', controller.signal), output, { image: '' }, { cancelGraceMs: 1500 }).catch((e: unknown) => e);
  t.ok(isRustlessError(error, 'RUSTLESS_BUILD_FAILED'), String(error));
  t.equal((error as Error).message, 'the build was cancelled; its process had not stopped 1.5 s later, and was killed');
  t.ok(Date.now() - t0 >= 1500, 'not before the grace');
});

t.test('a build cancelled before it starts is cancelled at once', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const { output, events } = recorder();
  const error = await buildInChild(ENTRY, job('waits', controller.signal), output, { image: '' }).catch((e: unknown) => e);
  t.equal((error as Error).message, 'the build was cancelled');
  t.same(events.slice(0, 2), ['waiting', 'stopping what it started']);
});

t.test('a build process killed mid-build fails the build, saying how it ended', async (t) => {
  const { output, events } = recorder();
  const error = await buildInChild(ENTRY, job('killed'), output, { image: '' }).catch((e: unknown) => e);
  t.ok(isRustlessError(error, 'RUSTLESS_BUILD_FAILED'));
  t.match((error as Error).message, /the build process was killed by SIGKILL before the build ended/);
  t.same(events, ['about to die']);
});

t.test('an entry that cannot run fails the build, not the gateway', async (t) => {
  const error = await buildInChild(new URL('./fixtures/no-such-entry.js', import.meta.url), job('ok'), recorder().output, { image: '' }).catch((e: unknown) => e);
  t.ok(isRustlessError(error, 'RUSTLESS_BUILD_FAILED'), String(error));
  t.match((error as Error).message, /exited with code 1/);
});

t.test('a build whose gateway is killed cancels itself and exits', async (t) => {
  const marker = join(t.testdir(), 'cancelled');
  const gateway = spawn(process.execPath, [...process.execArgv, new URL('./fixtures/build-parent.ts', import.meta.url).pathname, marker], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => gateway.stdout.on('data', (data: Buffer) => data.includes('waiting') && resolve()));
  // Gone, or a zombie its new parent has not reaped yet.
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const buildPid = Number(readFileSync(`${marker}.pid`, 'utf8'));
  // Were it left running, its inherited stderr would keep tap waiting.
  t.teardown(() => {
    if (alive(buildPid)) process.kill(buildPid, 'SIGKILL');
  });
  gateway.kill('SIGKILL');
  for (let i = 0; i < 100 && alive(buildPid); i++) await sleep(100);
  t.notOk(alive(buildPid), 'the build process is gone');
  t.ok(existsSync(marker), 'after cancelling its build (which stops what it started)');
});
