// The gateway's stop signal survives execa: while an execa subprocess runs (a `systemctl start`
// for a cold start, `journalctl -f` for `rustless logs -f`), signal-exit listens for SIGTERM too,
// and sends SIGTERM again when it finds itself the only listener. A gateway that listened with
// `process.once` was killed by that second signal a few ms into its drain (docs/systemd.md).
// Real processes, real signals; the built dist/ (like the other test/local suites).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STOP_SIGNAL = resolve(ROOT, 'dist', 'gateway', 'stop-signal.js');

/**
 * A process that waits for a stop signal as `how` says, runs `sleep 30` through execa meanwhile,
 * then "drains" for 300 ms and exits 0. Resolves with how it ended and what it printed.
 */
function stopWhileSubprocessRuns(how: 'stopSignal' | 'once'): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const wait =
    how === 'stopSignal'
      ? `const { stopSignal } = await import(${JSON.stringify(STOP_SIGNAL)}); await stopSignal().wait;`
      : `await new Promise((resolve) => process.once('SIGTERM', resolve));`;
  const script = `
    import { execa } from 'execa';
    // As in the gateway: its listener first, then a subprocess (and execa's listener) later.
    const stopped = (async () => { ${wait} })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const child = execa('sleep', ['30']);
    child.catch(() => {});
    console.log('ready');
    await stopped;
    console.log('draining');
    await new Promise((resolve) => setTimeout(resolve, 300));
    console.log('drained');
    child.kill();
    process.exit(0);
  `;
  return new Promise((resolvePromise, reject) => {
    // Without the NODE_OPTIONS tap adds to every child: its hook listens for SIGTERM too, and a
    // second listener hides the fault. (tap puts it back into `env`, so env -u.)
    const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      const before = output;
      output += chunk.toString();
      // execa's listener is installed once the subprocess is spawned, before 'ready' is printed.
      if (!before.includes('ready') && output.includes('ready')) setTimeout(() => child.kill('SIGTERM'), 200);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, output });
    });
  });
}

t.test('a SIGTERM while an execa subprocess runs: the gateway drains and exits 0', async (t) => {
  const result = await stopWhileSubprocessRuns('stopSignal');
  t.equal(result.signal, null, 'not killed by a signal');
  t.equal(result.code, 0, 'exit 0');
  t.match(result.output, /draining\s+drained/, 'it drained to the end');
});

t.test('the cause, for the record: with process.once the same SIGTERM kills it mid-drain', async (t) => {
  const result = await stopWhileSubprocessRuns('once');
  t.equal(result.signal, 'SIGTERM', 'signal-exit sent SIGTERM again, and nothing listened any more');
  t.notMatch(result.output, /drained/, 'the drain never finished');
});
