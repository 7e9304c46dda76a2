import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryPressureReader, parseSomeAvg10 } from '../../../src/gateway/memory-pressure.js';

const PSI = 'some avg10=12.35 avg60=2.90 avg300=0.63 total=2424774\nfull avg10=3.10 avg60=0.80 avg300=0.20 total=1163293\n';

t.test('some avg10 is read from the kernel\'s format', async (t) => {
  t.equal(parseSomeAvg10(PSI), 12.35);
  t.equal(parseSomeAvg10('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n'), 0);
  t.equal(parseSomeAvg10(''), undefined, 'nothing read: no figure, not 0');
});

t.test('the cgroup2 root of a unified or a hybrid host; none on a host without PSI', async (t) => {
  const unified = t.testdir({ 'memory.pressure': PSI });
  t.equal(await memoryPressureReader(unified)!(), 12.35, 'unified: /sys/fs/cgroup/memory.pressure');
  const hybrid = t.testdir();
  mkdirSync(join(hybrid, 'unified'));
  writeFileSync(join(hybrid, 'unified', 'memory.pressure'), PSI);
  t.equal(await memoryPressureReader(hybrid)!(), 12.35, 'hybrid: /sys/fs/cgroup/unified/memory.pressure');
  t.equal(memoryPressureReader(t.testdir()), undefined, 'no PSI');
});
