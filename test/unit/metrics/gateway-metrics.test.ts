// The text prom-client formats from the gateway's own counters: cumulative buckets, sums,
// counts, and labels only from routes, never from paths.
import t from 'tap';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';
import type { RouteTarget } from '../../../src/router/route-table.js';

const route: RouteTarget = { app: 'hello', function: 'Hello', path: '/hello/:name', methods: ['GET'], timeoutMs: 30_000, maxBodyBytes: 1024 };

t.test('requests become a counter per status and a histogram per method', async (t) => {
  const metrics = new GatewayMetrics({ apps: () => ['hello'], inflight: () => 2, runnerUp: () => true });
  metrics.request(route, 'GET', 200, 0.0005);
  metrics.request(route, 'GET', 200, 0.003);
  metrics.request(route, 'GET', 504, 31);
  metrics.unrouted(404);
  const { text, contentType } = await metrics.scrape();
  t.match(contentType, /^text\/plain; version=0\.0\.4/);
  t.match(text, 'rustless_requests_total{app="hello",route="/hello/:name",method="GET",code="200"} 2');
  t.match(text, 'rustless_requests_total{app="hello",route="/hello/:name",method="GET",code="504"} 1');
  t.match(text, 'rustless_request_duration_seconds_bucket{app="hello",route="/hello/:name",method="GET",le="0.001"} 1');
  t.match(text, 'rustless_request_duration_seconds_bucket{app="hello",route="/hello/:name",method="GET",le="0.005"} 2', 'buckets are cumulative');
  t.match(text, 'rustless_request_duration_seconds_bucket{app="hello",route="/hello/:name",method="GET",le="30"} 2');
  t.match(text, 'rustless_request_duration_seconds_bucket{app="hello",route="/hello/:name",method="GET",le="+Inf"} 3');
  t.match(text, 'rustless_request_duration_seconds_sum{app="hello",route="/hello/:name",method="GET"} 31.0035');
  t.match(text, 'rustless_request_duration_seconds_count{app="hello",route="/hello/:name",method="GET"} 3');
  t.match(text, 'rustless_timeouts_total{app="hello",route="/hello/:name"} 1');
  t.match(text, 'rustless_unrouted_requests_total{code="404"} 1');
  t.match(text, 'rustless_requests_in_flight{app="hello"} 2');
  t.match(text, 'rustless_runner_up{app="hello"} 1');
  t.match(text, '# TYPE rustless_request_duration_seconds histogram');
  t.match(text, /process_cpu_user_seconds_total/, "the process's own metrics");
  metrics.request(route, 'GET', 200, 0.0005);
  t.match((await metrics.scrape()).text, 'method="GET",code="200"} 3', 'a second scrape sees later requests');
});
