// When a gateway restarts itself after builds: only after a build, only once nothing has
// happened for the quiet time, never while something holds it, and once.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { FreshStart } from '../../../src/gateway/fresh-start.js';
import { ownServiceUnit } from '../../../src/gateway/own-service.js';

const QUIET_MS = 150;

function freshStart(state: { busy: boolean; lastRequestAt: number; restarts: number; fail?: boolean }): FreshStart {
  return new FreshStart({
    quietMs: QUIET_MS,
    busy: () => state.busy,
    lastRequestAt: () => state.lastRequestAt,
    restart: async () => {
      state.restarts++;
      if (state.fail) throw new Error('systemd said no');
    },
    memory: () => ({ rss: 60 * 2 ** 20, own: 18 * 2 ** 20 }),
  });
}

/** Runs `body` with console.error captured; returns what it printed. */
async function logged(body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => void lines.push(line);
  try {
    await body();
  } finally {
    console.error = original;
  }
  return lines;
}

t.test('no build since start: no restart, however long it is quiet', async (t) => {
  const state = { busy: false, lastRequestAt: 0, restarts: 0 };
  const fresh = freshStart(state);
  t.teardown(() => fresh.close());
  await sleep(QUIET_MS * 3);
  t.equal(state.restarts, 0);
});

t.test('after a build: one restart once quiet, with a log line that says why and how much', async (t) => {
  const state = { busy: false, lastRequestAt: 0, restarts: 0 };
  const fresh = freshStart(state);
  t.teardown(() => fresh.close());
  const lines = await logged(async () => {
    fresh.buildFinished();
    await sleep(QUIET_MS / 2);
    t.equal(state.restarts, 0, 'not before the quiet time is over');
    await sleep(QUIET_MS * 2);
  });
  t.equal(state.restarts, 1, 'restarted once');
  t.match(lines.join('\n'), /restarting the gateway, quiet for 0 s after 1 build, to give back the memory they grew \(RSS 60\.0 MiB, 18\.0 MiB of it its own\).*--restart-after-builds 0 turns this off/);
  fresh.buildFinished();
  await sleep(QUIET_MS * 2);
  t.equal(state.restarts, 1, 'a build after the restart was asked for does not ask again');
});

t.test('a request after the build moves the restart to a quiet time after it', async (t) => {
  const state = { busy: false, lastRequestAt: 0, restarts: 0 };
  const fresh = freshStart(state);
  t.teardown(() => fresh.close());
  await logged(async () => {
    fresh.buildFinished();
    await sleep(QUIET_MS * 0.8);
    state.lastRequestAt = Date.now();
    await sleep(QUIET_MS * 0.5);
    t.equal(state.restarts, 0, 'not while the request is recent');
    await sleep(QUIET_MS * 1.5);
  });
  t.equal(state.restarts, 1, 'then once it has been quiet again');
});

t.test('while something holds the gateway (a build, an app up, a stream), no restart; after, one', async (t) => {
  const state = { busy: true, lastRequestAt: 0, restarts: 0 };
  const fresh = freshStart(state);
  t.teardown(() => fresh.close());
  await logged(async () => {
    fresh.buildFinished();
    await sleep(QUIET_MS * 3);
    t.equal(state.restarts, 0, 'not while busy');
    state.busy = false;
    // It looks again at most every quiet time (10 s in a real gateway).
    await sleep(QUIET_MS * 2);
  });
  t.equal(state.restarts, 1);
});

t.test('a restart systemd refuses is logged; the gateway keeps serving and the next build tries again', async (t) => {
  const state = { busy: false, lastRequestAt: 0, restarts: 0, fail: true };
  const fresh = freshStart(state);
  t.teardown(() => fresh.close());
  const lines = await logged(async () => {
    fresh.buildFinished();
    await sleep(QUIET_MS * 2);
    state.fail = false;
    fresh.buildFinished();
    await sleep(QUIET_MS * 2);
  });
  t.equal(state.restarts, 2);
  t.match(lines.join('\n'), /the gateway could not restart itself: systemd said no/);
});

t.test('close() cancels a restart not yet due', async (t) => {
  const state = { busy: false, lastRequestAt: 0, restarts: 0 };
  const fresh = freshStart(state);
  fresh.buildFinished();
  fresh.close();
  await sleep(QUIET_MS * 2);
  t.equal(state.restarts, 0);
});

t.test('the service this process runs as, from /proc/self/cgroup', async (t) => {
  t.equal(ownServiceUnit('0::/system.slice/rustless.service\n'), 'rustless.service', 'a unified host');
  t.equal(ownServiceUnit('12:pids:/system.slice/rustless.service\n1:name=systemd:/system.slice/rustless.service\n0::/system.slice/rustless.service\n'), 'rustless.service', 'a hybrid host');
  t.equal(ownServiceUnit('0::/user.slice/user-1000.slice/session-3.scope\n'), undefined, 'a login session is no service');
  t.equal(ownServiceUnit(''), undefined, 'no /proc');
});
