import { PassThrough } from 'node:stream';
import t from 'tap';
import { BuildStatusLine } from '../../../src/cli/build-status-line.js';

function stream(isTTY: boolean): { out: NodeJS.WriteStream; text: () => string } {
  const pass = new PassThrough();
  let text = '';
  pass.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { out: Object.assign(pass, { isTTY }) as unknown as NodeJS.WriteStream, text: () => text };
}

t.test('not a terminal: one summary line when the build ends, crates compiled and time spent', async (t) => {
  const { out, text } = stream(false);
  const status = new BuildStatusLine(out);
  status.start();
  status.progress(27, 29, 1);
  status.progress(28, 29, 2);
  status.end();
  status.end();
  t.match(text(), /^ {2}build: 28\/29 ready, 2 crates compiled, \d+ s\n$/);
});

t.test('a terminal: redrawn in place, lines printed above it', async (t) => {
  const { out, text } = stream(true);
  const status = new BuildStatusLine(out);
  status.start();
  status.progress(3, 40, 3);
  status.print('   Compiling serde v1.0.152');
  status.end();
  t.match(text(), /\r\x1b\[K {2}build: 3\/40 ready, 3 crates compiled, 0 s\r\x1b\[K {3}Compiling serde v1\.0\.152\n/);
  t.ok(text().endsWith('\n'), 'the last state stays on screen');
});

t.test('a build that never started says nothing', async (t) => {
  const { out, text } = stream(false);
  new BuildStatusLine(out).end();
  t.equal(text(), '');
});
