import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { BuildOutput } from '../../../src/backends/backend.js';
import { cargoCommand, configFlags, parseCargoProgress, runCargo } from '../../../src/cargo/run-cargo.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-cargo.mjs', import.meta.url));
const RECORDED = fileURLToPath(new URL('./fixtures/cargo-progress.txt', import.meta.url));

function recorder(): { lines: string[]; progress: Array<[number, number]>; output: BuildOutput } {
  const lines: string[] = [];
  const progress: Array<[number, number]> = [];
  return { lines, progress, output: { line: (text) => lines.push(text), progress: (done, total) => progress.push([done, total]) } };
}

t.test('parseCargoProgress reads the bar of real cargo output', async (t) => {
  const parts = (await readFile(RECORDED, 'utf8')).split(/\r|\n/);
  const parsed = parts.map(parseCargoProgress).filter((p) => p !== undefined);
  t.same(parsed[0], { done: 0, total: 11 });
  t.same(parsed.at(-1), { done: 10, total: 11 });
  t.equal(parsed.length, parts.filter((p) => p.includes('Building [')).length, 'every bar is recognised');
  t.equal(parseCargoProgress('   Compiling serde v1.0.152'), undefined);
  t.equal(parseCargoProgress('Building the thing [x] 1/2'), undefined);
  t.same(parseCargoProgress('    Building [=======================>   ] 10/11: serde_json   '), { done: 10, total: 11 });
});

t.test('runCargo splits \\r and \\n, reports progress, forwards other lines', async (t) => {
  const r = recorder();
  await runCargo(['replay'], { cwd: process.cwd(), output: r.output, command: [process.execPath, FAKE] });
  t.same(r.progress[0], [0, 11]);
  t.same(r.progress.at(-1), [10, 11]);
  const bars = (await readFile(RECORDED, 'utf8')).split(/\r|\n/).filter((part) => part.includes('Building ['));
  t.equal(r.progress.length, bars.length, 'one progress per redraw of the bar');
  t.same(
    r.lines.filter((line) => line.startsWith('   Compiling')),
    ['   Compiling serde v1.0.152', '   Compiling ryu v1.0.2', '   Compiling serde_json v1.0.87', '   Compiling itoa v1.0.1', '   Compiling p v0.1.0 (/tmp/cp/p)'],
  );
  t.ok(r.lines.includes('stdout line'), 'stdout is forwarded too');
  t.notOk(r.lines.some((line) => line.includes('Building [') || line.trim() === ''), 'no bar, no blank lines');
});

t.test('a failed build carries the compiler errors and the exit code', async (t) => {
  const r = recorder();
  const error = await runCargo(['fail'], { cwd: process.cwd(), output: r.output, command: [process.execPath, FAKE] }).catch((e: unknown) => e);
  t.match(error, { code: 'RUSTLESS_BUILD_FAILED', details: { exitCode: 101 } });
  const message = (error as Error).message;
  t.ok(message.startsWith('error[E0425]: cannot find value `nope` in this scope\n --> src/lib.rs:2:5'), 'starts at the first error');
  t.ok(message.endsWith('error: could not compile `broken` (lib) due to 1 previous error'));
  t.notMatch(message, /unused variable|waiting for other jobs|Building \[/, 'no warnings before it, no noise');
  t.same(r.progress, [[3, 4]]);
  t.ok(r.lines.includes('warning: unused variable: `x`'), 'warnings still reach the output');
});

t.test('env, command prefix and cancellation', async (t) => {
  const r = recorder();
  await runCargo(['env'], { cwd: process.cwd(), env: { EXTRA: 'yes' }, output: r.output, command: ['env', 'A=1', process.execPath, FAKE] });
  t.same(r.lines, ['always 100 never yes']);

  const controller = new AbortController();
  const hung = recorder();
  const running = runCargo(['hang'], { cwd: process.cwd(), output: hung.output, signal: controller.signal, command: [process.execPath, FAKE] });
  setTimeout(() => controller.abort(), 300);
  await t.rejects(running, { code: 'RUSTLESS_BUILD_FAILED', message: 'the build was cancelled' });

  await t.rejects(runCargo([], { cwd: process.cwd(), output: r.output, command: ['/nonexistent/cargo'] }), {
    code: 'RUSTLESS_BUILD_FAILED',
    message: /cannot run \/nonexistent\/cargo/,
  });
});

t.test('cargoCommand and configFlags', async (t) => {
  const cargo = cargoCommand();
  t.ok(existsSync(cargo), `found ${cargo}`);
  const r = recorder();
  await runCargo(['--version'], { cwd: process.cwd(), output: r.output });
  t.match(r.lines[0], /^cargo \d+\.\d+/);
  t.same(configFlags(['a=1', 'b="x"']), ['--config', 'a=1', '--config', 'b="x"']);
});
