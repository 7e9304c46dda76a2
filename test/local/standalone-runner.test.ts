// The runners the gateway built, started alone on TCP with PORT set (as Knative and a plain
// Kubernetes Deployment start them), with no gateway in front: they must keep the same HTTP
// contract as the gateway, so the cases are the gateway's own (test/helpers/http-contract.ts).
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/registry/registry.js';
import type { BuildArtifact } from '../../src/backends/backend.js';
import { EXAMPLES, eventually, sendRequest, startGateway, type TestGateway } from '../helpers/gateway.js';
import { contractCases } from '../helpers/http-contract.js';
import { freePort } from '../helpers/free-port.js';

const APPS = ['hello', 'echo', 'todo', 'testbed'];
/** The app each path goes to, by its first segment, as an HTTPRoute in front of them would route it. */
const FIRST_SEGMENT: Record<string, string> = { hello: 'hello', echo: 'echo', todos: 'todo' };

let gw: TestGateway;
const runners = new Map<string, { child: ChildProcess; base: string; port: number; log: string[]; dataDir: string }>();

t.before(async () => {
  gw = await startGateway();
  for (const app of APPS) {
    const result = await gw.deploy(join(EXAMPLES, app));
    if (result.exitCode !== 0) throw new Error(`deploying ${app} failed:\n${result.stderr}`);
  }
  // The binaries the gateway serves, from its registry: the same ones, not a rebuild.
  const registry = new Registry(join(gw.stateDir, 'rustless.db'), { readonly: true });
  try {
    for (const app of APPS) {
      const build = registry.requireBuild(registry.requireApp(app).currentBuild!);
      const { binaryPath } = build.artifact as BuildArtifact;
      const port = await freePort();
      const log: string[] = [];
      // As a Deployment gives it: PORT, the app's name, and a writable data directory (its claim).
      const dataDir = await mkdtemp(join(tmpdir(), `rustless-standalone-${app}-`));
      const env = { PATH: process.env.PATH, PORT: String(port), RUSTLESS_APP: app, RUSTLESS_DATA_DIR: dataDir };
      const child = spawn(binaryPath, [], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
      runners.set(app, { child, base: `http://127.0.0.1:${port}`, port, log, dataDir });
    }
  } finally {
    registry.close();
  }
  for (const [app, runner] of runners) {
    await eventually(async () => runner.log.join('').includes('routing requests itself'), 10_000, `${app} listening on PORT`);
  }
});

t.teardown(async () => {
  for (const { child, dataDir } of runners.values()) {
    if (child.exitCode === null) child.kill('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
  await gw.stop();
});

function runnerFor(path: string): { base: string; port: number } {
  const first = path.split('?')[0]!.split('/')[1] ?? '';
  return runners.get(FIRST_SEGMENT[first] ?? 'testbed')!;
}

contractCases(t, {
  get: (path, headers) => sendRequest(runnerFor(path).base, 'GET', path, undefined, headers),
  send: (method, path, body, headers) => sendRequest(runnerFor(path).base, method, path, body, headers),
  tcp: (path) => ({ host: '127.0.0.1', port: runnerFor(path).port }),
});

t.test('alone, a runner ignores the gateway protocol headers a client sends', async (t) => {
  const reply = await sendRequest(runnerFor('/hello').base, 'GET', '/hello/alice', undefined, { 'x-rustless-function': 'Nope', 'x-rustless-params': '{"name":"mallory"}' });
  t.equal(reply.status, 200);
  t.same(reply.body, { message: 'hello alice' });
});

t.test('SIGTERM stops a standalone runner cleanly, as Kubernetes stops a pod', async (t) => {
  const { child, log } = runners.get('hello')!;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(log.join(''), /stopping on SIGTERM/);
});

