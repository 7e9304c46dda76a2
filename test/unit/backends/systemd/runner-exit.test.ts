// Which journal entries make an app's last failure (src/backends/systemd/runner-exit.ts): the
// entries below are what systemd logged for testbed's /hog in the emulated Pi, where an OOM kill,
// conmon's exit and the unit's result came 6-7 s apart each (the old 5 s window kept only the
// result, and the OOM kill was reported as "failed (exit-code)").
import t from 'tap';
import { lastFailure, PROCESS_EXIT, UNIT_FAILED, UNIT_OOM, type Entry } from '../../../../src/backends/systemd/runner-exit.js';

const at = (seconds: number): string => String(Math.round(seconds * 1e6));
const oom = (s: number): Entry => ({ MESSAGE_ID: UNIT_OOM, __REALTIME_TIMESTAMP: at(s) });
const exited = (s: number, status: string): Entry => ({ MESSAGE_ID: PROCESS_EXIT, EXIT_CODE: 'exited', EXIT_STATUS: status, __REALTIME_TIMESTAMP: at(s) });
const failed = (s: number, result: string): Entry => ({ MESSAGE_ID: UNIT_FAILED, UNIT_RESULT: result, __REALTIME_TIMESTAMP: at(s) });

t.test("a failure's entries spread over 13 s are one failure; the one before it is not", async (t) => {
  const first = [oom(1177.0), exited(1182.9, '137'), failed(1188.1, 'exit-code')];
  const second = [oom(1198.6), exited(1205.5, '137'), failed(1211.6, 'exit-code')];
  t.same(lastFailure([...first, ...second]), second);
  t.same(lastFailure(first), first);
});

t.test('a failure not yet ended by its result: its entries so far, not the failure before', async (t) => {
  t.same(lastFailure([oom(10), exited(11, '137'), failed(12, 'oom-kill'), exited(30, '1')]), [exited(30, '1')]);
});

t.test('nothing older than a minute before the last entry', async (t) => {
  t.same(lastFailure([exited(0, '1'), exited(100, '2')]), [exited(100, '2')]);
  t.same(lastFailure([]), []);
});
