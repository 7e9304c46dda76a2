// Drives the real TUI in a pseudo-terminal, as a person over SSH would, against a real gateway
// process, and asserts on what the screen shows (rendered by a terminal emulator).
import t from 'tap';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { KEYS, type PtyScreen } from './fixtures/pty-screen.js';
import { HELLO, openTui } from './fixtures/tui.js';

const BUILD_TIMEOUT_MS = 300_000;
let gw: TestGateway;
let work: string;
const screens: PtyScreen[] = [];

function tui(options: Parameters<typeof openTui>[1] = {}): PtyScreen {
  const screen = openTui(gw.adminSocket, options);
  screens.push(screen);
  return screen;
}

async function helloCopy(name: string, edit: { manifest?: string; lib?: (text: string) => string }): Promise<string> {
  const dir = join(work, name);
  await cp(HELLO, dir, { recursive: true, filter: (src) => !src.includes('/target') });
  // The copy lives elsewhere: point its `rustless` dependency back at the workspace crate.
  const cargo = join(dir, 'Cargo.toml');
  await writeFile(cargo, (await readFile(cargo, 'utf8')).replace('path = "../../rustless"', `path = "${join(HELLO, '..', '..', 'rustless')}"`));
  if (edit.manifest !== undefined) await writeFile(join(dir, 'rustless.toml'), edit.manifest);
  if (edit.lib) {
    const lib = join(dir, 'src', 'lib.rs');
    await writeFile(lib, edit.lib(await readFile(lib, 'utf8')));
  }
  return dir;
}

t.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'rustless-tui-'));
  gw = await startGateway();
});
t.teardown(async () => {
  for (const screen of screens) screen.kill();
  await gw.stop();
  await rm(work, { recursive: true, force: true });
});

t.test('register, build, invoke, read the log and delete an app from the TUI', async (t) => {
  t.setTimeout(BUILD_TIMEOUT_MS + 60_000);
  const s = tui();
  await s.waitFor('No apps yet');
  t.equal(s.bufferType(), 'alternate', 'draws on the alternate screen');
  t.match(s.text().split('\n')[22], /↑↓ +select .*d +deploy .*q +quit/, 'help line of keys at the bottom');

  s.press('d');
  await s.waitFor('Crate directory');
  await s.type('runner/examples/hello');
  s.press(KEYS.enter);
  let screen = await s.waitFor('Deploy hello?');
  t.match(screen, /GET\s+\/hello\/:name → Hello/, 'shows the routes its rustless.toml declares');
  t.match(screen, /Routes \(2\)/);

  s.press(KEYS.enter);
  screen = await s.waitFor(/Build #\d+ of hello/);
  screen = await s.waitFor(/\[[█░]+\] \d+\/\d+/, BUILD_TIMEOUT_MS);
  t.pass('a progress bar from cargo');
  screen = await s.waitFor(/✓ hello is serving build #\d+\./, BUILD_TIMEOUT_MS);
  t.match(screen, /Compiling|Finished/, 'cargo output scrolls in the log');

  s.press(KEYS.enter);
  screen = await s.waitFor('Recent logs');
  t.match(screen, /Builds\n\* #\d+ +succeeded/, 'app page lists the serving build');
  t.match(screen, /runtime: /);
  t.match(screen, /memory is not limited \(rustless\.toml's 128M/, 'the local backend enforces no memory limit, and the page says so');

  s.press('i');
  await s.waitFor('Choose a route');
  s.press(KEYS.enter);
  await s.waitFor('enter  send');
  await s.type('pty');
  s.press(KEYS.enter);
  screen = await s.waitFor('"message": "hello pty"');
  t.match(screen, /HTTP 200 +\d+(\.\d)?ms +application\/json/, 'status, time and content type');

  s.press(KEYS.escape);
  await s.waitFor('Choose a route');
  s.press(KEYS.escape);
  await s.waitFor('Recent logs');
  s.press('l');
  await s.waitFor(/rustless › logs hello .*following/);
  screen = await s.waitFor('GET /hello/pty');
  t.match(screen, /rustless › logs hello/, "follows the app's log on its own screen");

  s.press(KEYS.escape);
  await s.waitFor('Recent logs');
  s.press('x');
  await s.waitFor('Delete hello, its routes, builds and logs? y/N');
  s.press('y');
  await s.waitFor('No apps yet');
  t.equal((await gw.get('/hello/pty')).status, 404, 'the app is gone from the gateway');

  s.press('q');
  const exit = await s.exited;
  t.equal(exit.exitCode, 0, 'q quits with status 0');
  t.equal(s.bufferType(), 'normal', 'the terminal is back on its normal screen');
  t.match(s.raw.slice(-40), /\u001b\[\?1049l/, 'left the alternate screen');
  t.match(s.raw.slice(-40), /\u001b\[\?25h/, 'cursor shown again');
});

t.test('validation errors and a failed build show on screen; the app keeps serving', async (t) => {
  t.setTimeout(BUILD_TIMEOUT_MS * 2);
  const deployed = await gw.deploy(HELLO);
  t.equal(deployed.exitCode, 0, `hello deployed by the CLI: ${deployed.stderr}`);
  const broken = await helloCopy('bad-manifest', { manifest: 'name = "hello"\n\n[[routes]]\nmethod = "FETCH"\npath = "/hello/:name"\nfunction = "Hello"\n' });
  const failing = await helloCopy('compile-error', { lib: (text) => `${text}\npub fn broken() -> u32 { "not a number" }\n` });

  const s = tui();
  await s.waitFor(/hello +ready|hello +running|hello +stopped/);
  s.press('d');
  await s.waitFor('Crate directory');
  await s.type(broken);
  s.press(KEYS.enter);
  let screen = await s.waitFor('Cannot deploy this crate');
  t.match(screen.replace(/\n/g, ''), /rustless\.toml: .*FETCH/, 'the error names the file and the value');
  t.match(screen, /enter +check/, 'still editing the path: the error is shown in place');

  s.press(KEYS.ctrlU);
  await s.type(failing);
  s.press(KEYS.enter);
  await s.waitFor('Deploy hello?');
  s.press(KEYS.enter);
  screen = await s.waitFor(/✗ Build #\d+ failed\. hello keeps serving build #\d+\./, BUILD_TIMEOUT_MS);
  t.match(screen, /Compiler errors:/);
  t.match(screen, /error\[E0308\]: mismatched types|expected `u32`/, "the compiler's errors, readable");

  const answer = await gw.get('/hello/still');
  t.equal(answer.status, 200, 'the previous version still answers');
  t.same(answer.body, { message: 'hello still' });

  s.press(KEYS.escape);
  screen = await s.waitFor(/hello +(ready|running|stopped)/);
  t.pass('the dashboard shows the app serving');
  s.press(KEYS.ctrlC);
  t.equal((await s.exited).exitCode, 0, 'Ctrl-C quits cleanly');
  t.equal(s.bufferType(), 'normal', 'terminal restored after Ctrl-C');
});

t.test('set a secret in a masked field; deleting an app with data asks what to do with it', async (t) => {
  t.setTimeout(BUILD_TIMEOUT_MS + 60_000);
  const value = 'hunter2-never-on-screen';
  const deployed = await gw.deploy(join(HELLO, '..', 'todo'));
  t.equal(deployed.exitCode, 0, `todo deployed by the CLI: ${deployed.stderr}`);
  const dataDir = (await gw.app('todo')).dataDir as string;
  t.equal((await gw.send('POST', '/todos', { title: 'keep me' })).status, 201);

  const s = tui();
  await s.waitFor(/todo +(ready|running|stopped)/);
  // Apps are listed by name: hello (from the test before), then todo.
  s.press(KEYS.down);
  await s.settle();
  s.press(KEYS.enter);
  await s.waitFor(`data ${dataDir}`);
  s.press('e');
  await s.waitFor('Set a secret');
  await s.type('API_KEY');
  s.press(KEYS.enter);
  await s.type(value);
  await s.waitFor('•'.repeat(value.length));
  s.press(KEYS.enter);
  await s.waitFor('Set secret API_KEY');
  await s.waitFor('secrets API_KEY');
  t.pass('the app page lists it by name');
  t.notMatch(s.raw, value, 'the value was never drawn');
  t.match((await gw.cli(['secret', 'ls', 'todo'])).stdout, /API_KEY\tset/);

  s.press('x');
  await s.waitFor('k keep / d delete');
  s.press('k');
  await s.waitFor(/apps/);
  await s.settle();
  t.notMatch(s.text(), /todo +(ready|running|stopped)/, 'the app is gone');
  const { existsSync } = await import('node:fs');
  t.ok(existsSync(join(dataDir, 'todos.json')), 'its data was kept, as asked');
  s.press('q');
  t.equal((await s.exited).exitCode, 0);
});

t.test('fits 80x24, follows a resize, honours NO_COLOR', async (t) => {
  const colourful = tui();
  await colourful.waitFor(/apps/);
  await colourful.settle();
  t.match(colourful.raw, /\u001b\[3\dm/, 'colours without NO_COLOR');
  colourful.press('q');
  await colourful.exited;

  const s = tui({ extraEnv: { NO_COLOR: '1' } });
  await s.waitFor('NAME');
  await s.settle();
  t.notMatch(s.raw, /\u001b\[(3|4|9|10)\dm/, 'no colour escapes with NO_COLOR');
  let lines = s.text().split('\n');
  t.match(lines[0], /^rustless › apps/, 'header on the first row');
  t.match(lines[22], /q +quit/, 'help line on row 23 of 24');

  s.resize(120, 30);
  // The header at the new width: LAST USE alone also fits 80 columns, so it proves no redraw.
  await s.waitFor(/^rustless › apps.{100,}/m);
  await s.settle();
  lines = s.text().split('\n');
  t.match(lines[0], /^rustless › apps/, 'header still on the first row after resize');
  t.match(lines[28], /q +quit/, 'help line moved to the new bottom');
  t.ok(lines[0]!.length > 80, 'the header uses the new width');

  s.resize(60, 16);
  await s.settle();
  lines = s.text().split('\n');
  t.match(lines[0], /^rustless › apps/);
  t.match(lines[14], /select/, 'help line at the bottom of a small terminal');
  s.press('q');
  t.equal((await s.exited).exitCode, 0);
});
