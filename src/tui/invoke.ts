/** Sends a test request to an app through the gateway's public listener, as any client would. */

export interface InvokeResult {
  status: number;
  contentType: string | undefined;
  body: string;
  timeMs: number;
}

export async function invoke({ publicUrl, method, path, body, signal }: { publicUrl: string; method: string; path: string; body: string; signal?: AbortSignal }): Promise<InvokeResult> {
  const hasBody = body.trim() !== '' && method !== 'GET' && method !== 'HEAD';
  // undici loads on the first request sent, not with the TUI: most sessions never send one.
  const { request } = await import('undici');
  const started = performance.now();
  const response = await request(`${publicUrl.replace(/\/$/, '')}${path}`, {
    method: method as 'GET',
    headers: hasBody ? { 'content-type': 'application/json' } : {},
    body: hasBody ? body : null,
    signal: signal ?? null,
  });
  const text = await response.body.text();
  const contentType = response.headers['content-type'];
  return { status: response.statusCode, contentType: Array.isArray(contentType) ? contentType[0] : contentType, body: text, timeMs: performance.now() - started };
}

/** A route's methods, one entry per concrete method (`*` offers the common ones). */
export function invokableMethods(methods: string[]): string[] {
  return methods.includes('*') ? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] : methods;
}
