// The warm tier's rules in AppLifecycle, against a backend stand-in that records what it is
// asked (the real freezer is tested in the test host by test/e2e/warm-tier.test.ts): an idle app
// is frozen, a request thaws it, it is stopped after the frozen timeout, past the memory
// budget or under memory pressure (longest-frozen first), and anything exclusive thaws it first.
// (The pressure itself is real in test/e2e/warm-tier.test.ts; here it is a number we set.)
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { STARTED, type Backend, type FrozenRunner } from '../../../src/backends/backend.js';
import { AppLifecycle } from '../../../src/gateway/app-lifecycle.js';

function standIn({ memoryBytes = 10 * 2 ** 20, canFreeze = true } = {}) {
  const calls: string[] = [];
  const frozen = new Set<string>();
  const backend = {
    kind: 'systemd',
    activate: async (app: string) => {
      calls.push(`activate ${app}`);
      return { socketPath: `/run/${app}.sock`, started: STARTED };
    },
    stop: async (app: string) => {
      if (frozen.has(app)) throw new Error(`stop of frozen ${app}`);
      calls.push(`stop ${app}`);
    },
    freeze: async (app: string): Promise<FrozenRunner | undefined> => {
      calls.push(`freeze ${app}`);
      if (!canFreeze) return undefined;
      frozen.add(app);
      return { memoryBytes };
    },
    thaw: (app: string) => {
      calls.push(`thaw ${app}`);
      frozen.delete(app);
      return true;
    },
  } as unknown as Backend;
  return { backend, calls, frozen };
}

async function use(lifecycle: AppLifecycle, app: string): Promise<boolean> {
  const lease = lifecycle.tryAcquire(app) ?? (await lifecycle.acquire(app));
  lease.release({ status: 200, durationMs: 1 });
  return lease.coldStart;
}

t.test('idle -> frozen -> thawed by a request -> stopped after the frozen timeout', async (t) => {
  const { backend, calls, frozen } = standIn();
  const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 30, frozenTimeoutMs: 120 });
  t.teardown(() => lifecycle.close());
  t.equal(await use(lifecycle, 'a'), true, 'the first request is a cold start');
  await sleep(80);
  t.ok(frozen.has('a') && lifecycle.isFrozen('a'), 'frozen once idle');
  t.equal(lifecycle.tryAcquire('a'), undefined, 'the warm path does not take a frozen app');
  t.equal(await use(lifecycle, 'a'), false, 'a thaw is not a cold start');
  t.notOk(frozen.has('a') || lifecycle.isFrozen('a'), 'thawed');
  t.equal(lifecycle.stats('a').thaws, 1);
  await sleep(80);
  t.ok(lifecycle.isFrozen('a'), 'frozen again');
  await sleep(200);
  t.notOk(lifecycle.isFrozen('a'), 'no longer frozen');
  t.notOk(lifecycle.isActive('a'), 'stopped after the frozen timeout');
  t.same(calls, ['activate a', 'freeze a', 'thaw a', 'activate a', 'freeze a', 'thaw a', 'stop a'], 'thawed before it was stopped');
});

t.test('past the budget the longest-frozen app is stopped', async (t) => {
  const { backend, calls } = standIn({ memoryBytes: 10 * 2 ** 20 });
  const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 20, frozenTimeoutMs: 60_000, frozenBudgetBytes: 25 * 2 ** 20 });
  t.teardown(() => lifecycle.close());
  for (const app of ['a', 'b', 'c']) {
    await use(lifecycle, app);
    await sleep(60);
  }
  await sleep(50);
  t.notOk(lifecycle.isActive('a'), 'a, frozen first, was stopped');
  t.ok(lifecycle.isFrozen('b') && lifecycle.isFrozen('c'), 'b and c fit in the budget and stay frozen');
  t.ok(calls.indexOf('thaw a') < calls.indexOf('stop a'), 'a was thawed before its stop');
});

t.test('under memory pressure the longest-frozen app is stopped, one per pressure window', async (t) => {
  const { backend } = standIn();
  let pressure = 4;
  const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 20, frozenTimeoutMs: 60_000, memoryPressure: { read: async () => pressure, limitPercent: 10 } });
  t.teardown(() => lifecycle.close());
  for (const app of ['a', 'b']) {
    await use(lifecycle, app);
    await sleep(60);
  }
  await sleep(2_300);
  t.ok(lifecycle.isFrozen('a') && lifecycle.isFrozen('b'), 'below the limit both stay frozen');
  pressure = 12.5;
  await sleep(2_100);
  t.notOk(lifecycle.isActive('a'), 'at 12.5% over a 10% limit, a, frozen first, is stopped');
  t.ok(lifecycle.isFrozen('b'), 'b is not: the pressure must still hold a window later');
});

t.test('exclusive work (stop, swap, removal) thaws first; no freezer means a stop', async (t) => {
  const { backend, calls } = standIn();
  const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 20, frozenTimeoutMs: 60_000 });
  t.teardown(() => lifecycle.close());
  await use(lifecycle, 'a');
  await sleep(60);
  t.ok(lifecycle.isFrozen('a'));
  await lifecycle.exclusive('a', async () => calls.push('swap a'));
  t.same(calls.slice(-2), ['thaw a', 'swap a']);

  const plain = standIn({ canFreeze: false });
  const other = new AppLifecycle({ backend: plain.backend, defaultIdleTimeoutMs: 20, frozenTimeoutMs: 60_000 });
  t.teardown(() => other.close());
  await use(other, 'b');
  await sleep(60);
  t.notOk(other.isActive('b'), 'stopped when the backend cannot freeze');
  t.same(plain.calls, ['activate b', 'freeze b', 'stop b']);
});

t.test('requests racing a freeze wait for it and thaw', async (t) => {
  const { backend, frozen } = standIn();
  const slow = backend.freeze!;
  backend.freeze = async (app) => {
    await sleep(30);
    return slow(app);
  };
  const lifecycle = new AppLifecycle({ backend, defaultIdleTimeoutMs: 20, frozenTimeoutMs: 60_000 });
  t.teardown(() => lifecycle.close());
  await use(lifecycle, 'a');
  await sleep(30);
  // The freeze is under way: these wait for it, then the first thaws.
  const results = await Promise.all(Array.from({ length: 5 }, () => use(lifecycle, 'a')));
  t.same(results, [false, false, false, false, false]);
  t.notOk(frozen.has('a'), 'running after the burst');
  t.equal(lifecycle.stats('a').thaws, 1, 'one thaw for the burst');
});
