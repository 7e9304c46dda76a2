#!/usr/bin/env zx
// Measures the TUI as a person feels it: time from a keypress to the updated screen (dashboard
// selection, opening a screen, the build view after confirming a deploy, scrolling the build
// log) and the TUI process's memory (RSS). A real gateway, the real CLI in a pty, the screen
// read through @xterm/headless.  Flags: --rounds 30 --cols 80 --rows 24
import { readFileSync } from 'node:fs';
import * as pty from 'node-pty';
import xterm from '@xterm/headless';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const rounds = Number(argv.rounds ?? 30);
const cols = Number(argv.cols ?? 80);
const rows = Number(argv.rows ?? 24);
const cacheDir = path.join(os.tmpdir(), 'rustless-test-cargo-cache');

const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-bench-tui-'));
const gateway = $`node ${cli} gateway --backend local --port 0 --listen 127.0.0.1 --state-dir ${stateDir} --cache-dir ${cacheDir}`.nothrow();
for await (const line of gateway.stdout) if (/listening on/.test(line)) break;
const socket = path.join(stateDir, 'admin.sock');
for (const app of ['hello', 'echo', 'todo']) await $`node ${cli} deploy ${path.join(root, 'runner', 'examples', app)} --host ${socket}`;

const term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
const env = { ...process.env, RUSTLESS_HOST: socket, TERM: 'xterm-256color' };
delete env.NO_COLOR;
// The node flags on the command's #! line (`env -S node FLAGS`), as `rustless` runs the TUI.
const shebangFlags = readFileSync(cli, 'utf8').split('\n', 1)[0].split(/\s+/).slice(3);
const child = pty.spawn(process.execPath, [...shebangFlags, cli], { name: 'xterm-256color', cols, rows, cwd: root, env });
let waiter;
const screen = () => Array.from({ length: rows }, (_, i) => term.buffer.active.getLine(i)?.translateToString(true) ?? '').join('\n');
child.onData((data) => term.write(data, () => waiter && waiter()));
/** Presses `key` and resolves with the ms until the screen satisfies `done`. */
function press(key, done, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const timer = setTimeout(() => reject(new Error(`no screen matching ${done} after ${key}:\n${screen()}`)), timeoutMs);
    waiter = () => {
      if (!done(screen())) return;
      waiter = undefined;
      clearTimeout(timer);
      resolve(performance.now() - started);
    };
    child.write(key);
  });
}
const waitFor = (test) => press('', test);
const has = (text) => (s) => (typeof text === 'string' ? s.includes(text) : text.test(s));
const rss = (field) => Number(/\b(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field)))[1]) / 1024;
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +s.at(-1).toFixed(1) };
};

const results = {};
await waitFor(has(/›todo|›echo|›hello/));
await sleep(1500);
results.rssDashboardMiB = +rss('VmRSS').toFixed(1);

// Dashboard: ↓ then ↑ moves the selection marker.
const move = [];
for (let i = 0; i < rounds; i++) {
  move.push(await press('\u001b[B', has(/›hello/)));
  move.push(await press('\u001b[A', has(/›echo/)));
}
results.dashboardSelect = stats(move);

// Opening the deploy screen and going back.
const openScreen = [];
for (let i = 0; i < rounds; i++) {
  openScreen.push(await press('d', has('Crate directory')));
  openScreen.push(await press('\u001b', has('LAST USE')));
}
results.openScreen = stats(openScreen);

// Build view: Enter on the confirmation until the build screen shows (includes pack + upload),
// then Enter on the finished build until its app page shows.
const toBuild = [];
const toApp = [];
for (let i = 0; i < Math.min(rounds, 5); i++) {
  await press('d', has('Crate directory'));
  child.write('runner/examples/hello');
  await press('\r', has('Deploy hello?'));
  toBuild.push(await press('\r', has(/Build #\d+ of hello/)));
  await waitFor(has(/is serving build|failed/));
  toApp.push(await press('\r', has('Recent logs')));
  await press('\u001b', has('LAST USE'));
}
results.buildViewOpen = stats(toBuild);
results.buildToAppPage = stats(toApp);
results.rssAfterBuildsMiB = +rss('VmRSS').toFixed(1);
results.rssPeakMiB = +rss('VmHWM').toFixed(1);

child.write('q');
await new Promise((resolve) => child.onExit(resolve));
gateway.kill('SIGTERM');
await gateway;
await fs.rm(stateDir, { recursive: true, force: true });
echo(JSON.stringify({ terminal: `${cols}x${rows}`, node: process.version, ...results }, null, 2));
