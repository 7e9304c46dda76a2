#!/usr/bin/env zx
// What one crashing function costs other clients (issue 7 section 4), on the local backend:
// the testbed app under `--connections` keep-alive clients, one of which calls `/abort` (the
// function aborts the runner) every `--every` requests, while the others send innocent GETs,
// PUTs and POSTs. Prints how many innocent requests failed, and how. Nothing is asserted.
//   --connections 4  --requests 60 (per connection)  --every 6  --cache-dir <shared cargo cache>
import { Client } from 'undici';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

$.verbose = false;
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const connections = Number(argv.connections ?? 4);
const perConnection = Number(argv.requests ?? 60);
const every = Number(argv.every ?? 6);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rustless-bench-aborts-'));
const cacheDir = argv['cache-dir'] ?? path.join(os.tmpdir(), 'rustless-test-cargo-cache');

const gateway = spawn(process.execPath, [cli, 'gateway', '--backend', 'local', '--port', '0', '--listen', '127.0.0.1', '--state-dir', path.join(work, 'state'), '--cache-dir', cacheDir, '--idle-timeout', '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
const { url, admin } = await new Promise((resolve) => {
  createInterface({ input: gateway.stdout }).on('line', (line) => {
    const match = /listening on (http:\/\/\S+) \(admin (\S+?),/.exec(line);
    if (match) resolve({ url: match[1], admin: match[2] });
  });
});

try {
  await $`node ${cli} deploy ${path.join(root, 'runner', 'examples', 'testbed')} --host ${admin}`;
  const outcomes = { abort: new Map(), GET: new Map(), PUT: new Map(), POST: new Map() };
  const count = (kind, key) => outcomes[kind].set(key, (outcomes[kind].get(key) ?? 0) + 1);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, index) => {
      const client = new Client(url);
      try {
        for (let i = 0; i < perConnection; i++) {
          const [kind, method, path, body] =
            index === 0 && i % every === 0
              ? ['abort', 'GET', '/abort', null]
              : [['GET', 'GET', '/slow?ms=20', null], ['PUT', 'PUT', '/inspect/put', '{"i":1}'], ['POST', 'POST', '/inspect/post', '{"i":1}']][i % 3];
          const response = await client.request({ method, path, body, headers: body ? { 'content-type': 'application/json' } : {} });
          const text = await response.body.text();
          const code = response.statusCode === 200 ? '200' : `${response.statusCode} ${JSON.parse(text).error?.code ?? ''}`;
          count(kind, code);
        }
      } finally {
        await client.close();
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;

  const show = (map) => [...map].map(([code, n]) => `${n} × ${code}`).join(', ') || 'none';
  const failed = (kind) => [...outcomes[kind]].filter(([code]) => code !== '200').reduce((sum, [, n]) => sum + n, 0);
  const line = (label, value) => echo(`${label.padEnd(44)} ${value}`);
  echo(chalk.bold(`\naborts beside innocent requests: ${connections} connections, ${perConnection} requests each, /abort every ${every} on one`));
  line('aborting requests', show(outcomes.abort));
  line('innocent GET (idempotent)', show(outcomes.GET));
  line('innocent PUT (idempotent)', show(outcomes.PUT));
  line('innocent POST (not idempotent)', show(outcomes.POST));
  line('innocent idempotent requests failed', `${failed('GET') + failed('PUT')}`);
  line('innocent POSTs failed (in flight when it died)', `${failed('POST')}`);
  line('elapsed (s)', elapsedS.toFixed(1));
} finally {
  gateway.kill('SIGTERM');
  await new Promise((resolve) => gateway.once('exit', resolve));
  await fs.remove(work);
}
