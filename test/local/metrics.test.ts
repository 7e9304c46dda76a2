// A real Prometheus (Debian's package) scraping a real gateway's metrics listener, asked
// through its HTTP API for the series after real traffic.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { EXAMPLES, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/free-port.js';

const PROMETHEUS = '/usr/bin/prometheus';
let gw: TestGateway;
let prometheus: ChildProcess;
let promUrl: string;
let work: string;


/** The value of an instant query that returns one series, or undefined while it has none. */
async function query(promql: string): Promise<number | undefined> {
  const response = await request(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.body.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
  if (body.status !== 'success') throw new Error(`prometheus answered ${JSON.stringify(body)}`);
  const [first] = body.data.result;
  return first ? Number(first.value[1]) : undefined;
}

async function expectSeries(t: Test, promql: string, expected: number): Promise<void> {
  let last: number | undefined;
  await eventually(async () => (last = await query(promql)) === expected, 30_000, `${promql} == ${expected} (last ${last})`).catch(() => undefined);
  t.equal(last, expected, promql);
}

t.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'rustless-metrics-'));
  const metricsPort = await freePort();
  gw = await startGateway({ args: ['--metrics-listen', `127.0.0.1:${metricsPort}`] });
  const deployed = await gw.deploy(join(EXAMPLES, 'hello'));
  if (deployed.exitCode !== 0) throw new Error(deployed.stderr);

  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  const config = join(work, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rustless\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`);
  prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  await eventually(async () => (await request(`${promUrl}/-/ready`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200, 30_000, 'prometheus to be ready');
});

t.teardown(async () => {
  prometheus?.kill('SIGTERM');
  await gw?.stop();
  await rm(work, { recursive: true, force: true });
});

t.test('requests, statuses, cold starts, builds and runner state reach Prometheus with bounded labels', async (t) => {
  for (let i = 0; i < 30; i++) t.equal((await gw.get(`/hello/n${i}`)).status, 200);
  for (let i = 0; i < 5; i++) t.equal((await gw.get(`/nope/${i}`)).status, 404);
  for (let i = 0; i < 3; i++) t.equal((await gw.send('DELETE', '/hello/x')).status, 405);

  await expectSeries(t, 'sum(rustless_requests_total{app="hello",route="/hello/:name",method="GET",code="200"})', 30);
  await expectSeries(t, 'sum(rustless_request_duration_seconds_count{app="hello"})', 30);
  await expectSeries(t, 'sum(rustless_unrouted_requests_total{code="404"})', 5);
  await expectSeries(t, 'sum(rustless_unrouted_requests_total{code="405"})', 3);
  await expectSeries(t, 'sum(rustless_cold_starts_total{app="hello"})', 1);
  await expectSeries(t, 'sum(rustless_cold_start_duration_seconds_count{app="hello"})', 1);
  await expectSeries(t, 'sum(rustless_builds_total{app="hello",outcome="succeeded"})', 1);
  await expectSeries(t, 'sum(rustless_build_duration_seconds_count{app="hello"})', 1);
  await expectSeries(t, 'rustless_runner_up{app="hello"}', 1);
  await expectSeries(t, 'rustless_requests_in_flight{app="hello"}', 0);
  await expectSeries(t, 'count(rustless_requests_total{route=~".*nope.*"}) or vector(0)', 0);
  t.ok((await query('process_resident_memory_bytes{job="rustless"}'))! > 0, "the gateway process's own metrics");

  t.equal((await gw.cli(['stop', 'hello'])).exitCode, 0);
  await expectSeries(t, 'rustless_runner_up{app="hello"}', 0);
});

t.test('GET /metrics on the admin socket answers the same text format', async (t) => {
  const response = await request('http://admin/metrics', { dispatcher: new Agent({ connect: { socketPath: gw.adminSocket } }) });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const text = await response.body.text();
  t.match(text, /# TYPE rustless_requests_total counter/);
  t.match(text, /rustless_requests_total\{app="hello",route="\/hello\/:name",method="GET",code="200"\} 30/);
});
