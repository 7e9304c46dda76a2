import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BYTES_PER_JOB, cargoJobs, formatBytes, memAvailable, parseMemorySize } from '../../../src/cargo/jobs.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

t.test('cargo -j follows the smaller of MemAvailable and the build limit, at most one per CPU', async (t) => {
  t.equal(cargoJobs({ memAvailable: 20 * GiB, memoryMax: 2 * GiB, cpus: 4 }).jobs, 3, 'the 2G limit allows 3 jobs of 640 MiB');
  t.equal(cargoJobs({ memAvailable: 20 * GiB, memoryMax: undefined, cpus: 2 }).jobs, 2, 'plenty of memory: one per CPU');
  t.equal(cargoJobs({ memAvailable: 700 * MiB, memoryMax: 2 * GiB, cpus: 4 }).jobs, 1, 'a 1 GiB board with 700 MiB free: one compiler at a time');
  t.equal(cargoJobs({ memAvailable: 100 * MiB, memoryMax: undefined, cpus: 4 }).jobs, 1, 'never fewer than one');
  t.equal(cargoJobs({ memAvailable: undefined, memoryMax: undefined, cpus: 2 }).jobs, 2, 'nothing known: one per CPU');
  t.equal(cargoJobs({ memAvailable: 4 * BYTES_PER_JOB, memoryMax: undefined, cpus: 8 }).jobs, 4);
  t.equal(
    cargoJobs({ memAvailable: 700 * MiB, memoryMax: 2 * GiB, cpus: 4 }).reason,
    "cargo -j 1 (4 CPUs, MemAvailable 700 MiB, the build's limit 2.0 GiB; 640 MiB per job)",
    'the build log says why',
  );
});

t.test('parseMemorySize reads systemd sizes and names what it cannot', async (t) => {
  t.equal(parseMemorySize('2G'), 2 * GiB);
  t.equal(parseMemorySize('512M'), 512 * MiB);
  t.equal(parseMemorySize('1073741824'), GiB);
  t.equal(parseMemorySize('infinity'), undefined);
  t.equal(parseMemorySize('50%', 4 * GiB), 2 * GiB);
  t.throws(() => parseMemorySize('lots'), { message: 'expected a memory size such as 2G, 512M or infinity, got "lots"' });
});

t.test('memAvailable reads /proc/meminfo', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-meminfo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'meminfo'), 'MemTotal:        1000000 kB\nMemFree:          200000 kB\nMemAvailable:     512000 kB\n');
  t.equal(await memAvailable(join(dir, 'meminfo')), 512000 * 1024);
  t.equal(await memAvailable(join(dir, 'missing')), undefined);
  t.ok((await memAvailable())! > 0, 'this machine has some');
  t.equal(formatBytes(undefined), 'unknown');
});
