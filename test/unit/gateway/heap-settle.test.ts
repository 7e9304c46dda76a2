// HeapSettle with V8's real full collections: after the builds are over, and only then, the
// heap is collected COLLECTIONS times (an object nothing holds any more is gone), a build that
// ends meanwhile puts the collections off, and a closed gateway does none.
// (What it gives back in RSS is a figure, measured by scripts/bench-pi.mjs: docs/raspberry-pi.md.)
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { COLLECTIONS, fullCollection, HeapSettle, type Collect } from '../../../src/gateway/heap-settle.js';

/** The real collection, counted. */
function counted(): { collect: () => Collect; count: () => number } {
  let count = 0;
  return {
    collect: () => {
      const gc = fullCollection();
      return () => {
        count++;
        gc();
      };
    },
    count: () => count,
  };
}

/** A WeakRef to an object nothing else holds: cleared only by a collection. */
function unheld(): WeakRef<object> {
  return new WeakRef({ payload: new Array(10_000).fill('garbage') });
}

t.test('after the last build ends and a quiet while, the heap is collected for real', async (t) => {
  const gc = counted();
  const settle = new HeapSettle({ quietMs: 50, collect: gc.collect });
  const garbage = unheld();
  settle.buildEnded();
  t.equal(settle.settling, undefined, 'nothing at once');
  await sleep(150);
  await settle.settling;
  t.equal(gc.count(), COLLECTIONS, `${COLLECTIONS} full collections, one past --bytecode-old-age`);
  t.equal(garbage.deref(), undefined, 'an object nothing holds is gone');
});

t.test('a build that ends during the quiet while puts the collections off', async (t) => {
  const gc = counted();
  const settle = new HeapSettle({ quietMs: 200, collect: gc.collect });
  settle.buildEnded();
  await sleep(120);
  settle.buildEnded();
  await sleep(120);
  t.equal(gc.count(), 0, 'none 240 ms after the first build, 120 ms after the second');
  await sleep(200);
  await settle.settling;
  t.equal(gc.count(), COLLECTIONS, 'one settling for both');
});

t.test('a closed gateway does not collect', async (t) => {
  const gc = counted();
  const settle = new HeapSettle({ quietMs: 50, collect: gc.collect });
  settle.buildEnded();
  settle.close();
  await sleep(150);
  t.equal(settle.settling, undefined);
  t.equal(gc.count(), 0);
});

t.test('fullCollection works without --expose-gc on the command line', async (t) => {
  t.notOk(process.execArgv.includes('--expose-gc'), 'this test runs without it');
  const garbage = unheld();
  // A WeakRef holds its target until the end of the job that made it.
  await sleep(0);
  fullCollection()();
  t.equal(garbage.deref(), undefined, 'the exposed gc collected');
});
