/** The `--metrics-listen` listener: `GET /metrics` and nothing else, without a token (it says only counts). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendMetrics } from './admin-server.js';
import type { Gateway } from '../gateway/gateway.js';
import { sendError } from '../http/json-response.js';

export function createMetricsHandler(gateway: Gateway) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') return sendError(res, 'RUSTLESS_NOT_FOUND', 404, 'this listener serves GET /metrics only');
    await sendMetrics(gateway, res);
  };
}
