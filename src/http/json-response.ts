/** Writing JSON answers and JSON errors, the one shape both HTTP edges use. */
import type { ServerResponse } from 'node:http';
import { errorBody, toRustlessError, type ErrorCode } from '../errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, code: ErrorCode | string, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, errorBody(code, message), headers);
}

/** Answers with whatever was thrown: a RustlessError keeps its code, anything else is a 500. */
export function sendThrown(res: ServerResponse, thrown: unknown): void {
  const error = toRustlessError(thrown);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, error.toJSON(), error.headers);
}
