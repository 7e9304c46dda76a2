import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { commandLines, runCommand } from '../../../src/process/run-command.js';

/** Whether a process with this command line is running (pgrep -f). */
async function running(pattern: string): Promise<boolean> {
  return (await runCommand('pgrep', ['-f', pattern])).exitCode === 0;
}

t.test('runCommand: exit code, output without its final newline, stdin, and never a throw', async (t) => {
  t.same(await runCommand('sh', ['-c', 'echo out; echo err >&2']), { exitCode: 0, stdout: 'out', stderr: 'err' });
  t.same(await runCommand('sh', ['-c', 'printf "a\\n\\n"; exit 3']), { exitCode: 3, stdout: 'a\n', stderr: '' }, 'only the last newline goes; the exit code is kept');
  t.equal((await runCommand('cat', [], { input: 'fields\n' })).stdout, 'fields', 'input reaches stdin');
  t.equal((await runCommand('cat', [])).stdout, '', 'without input stdin is empty, not the terminal');
  const missing = await runCommand('/nonexistent/rustless-no-such-program', ['x']);
  t.equal(missing.exitCode, 127, 'a program that does not exist: 127');
  t.match(missing.stderr, /ENOENT/, 'and why');
  const killed = await runCommand('sh', ['-c', 'kill -9 $$']);
  t.equal(killed.exitCode, null, 'ended by a signal: no exit code');
  const big = await runCommand('sh', ['-c', 'head -c 3000000 /dev/zero | tr "\\0" x']);
  t.equal(big.stdout.length, 3_000_000, "more than execFile's default 1 MiB of output");
  t.equal((await runCommand('true', [], { input: 'x'.repeat(1 << 20) })).exitCode, 0, 'a command that exits without reading its input');
});

t.test('commandLines: lines as they come, how it ended, and no process left behind', async (t) => {
  const lines: string[] = [];
  const output = commandLines('sh', ['-c', 'echo one; echo two; echo oops >&2; exit 4']);
  let next = await output.next();
  for (; !next.done; next = await output.next()) lines.push(next.value);
  t.same(lines, ['one', 'two']);
  t.same(next.value, { exitCode: 4, stdout: '', stderr: 'oops' });

  const controller = new AbortController();
  // A sleep no other process has: its duration carries this test's pid.
  const marker = `sleep 600.${process.pid}1`;
  const follow = commandLines('sh', ['-c', `echo ready; exec ${marker}`], { signal: controller.signal });
  t.same(await follow.next(), { done: false, value: 'ready' }, 'a line before the command ends');
  t.ok(await running(marker), 'it runs');
  controller.abort();
  const ended = await follow.next();
  t.equal(ended.done, true, 'an abort ends the lines');
  t.notOk(await running(marker), 'and the command');

  const early = `sleep 600.${process.pid}2`;
  for await (const line of commandLines('sh', ['-c', `echo first; exec ${early}`])) {
    t.equal(line, 'first');
    break;
  }
  await sleep(100);
  t.notOk(await running(early), 'a reader that stops early stops the command');

  const missing = commandLines('/nonexistent/rustless-no-such-program', []);
  const result = await missing.next();
  t.equal(result.done, true);
  t.match(result.value, { exitCode: 127, stderr: /ENOENT/ }, 'a program that does not exist: 127 and why');
});
