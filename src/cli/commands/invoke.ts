/** `rustless invoke METHOD PATH [--data JSON]`: one request through the public listener. */
import { request } from 'undici';
import type { CommandContext } from '../command.js';
import { printJson, UsageError } from '../output.js';

export async function invoke({ client, positionals, flags }: CommandContext): Promise<number> {
  const [method, path] = positionals;
  if (!method || !path?.startsWith('/')) throw new UsageError(`PATH must start with /, got ${JSON.stringify(path)}\nusage: rustless invoke METHOD PATH [--data JSON]`);
  const data = typeof flags.data === 'string' ? flags.data : undefined;
  if (data !== undefined) {
    try {
      JSON.parse(data);
    } catch (error) {
      throw new UsageError(`--data must be JSON: ${(error as Error).message}`);
    }
  }
  const base = typeof flags.url === 'string' ? flags.url : await (await client()).publicUrl();
  if (!base) throw new UsageError('the gateway has no TCP listener to call; pass --url http://HOST:PORT');
  const started = performance.now();
  const response = await request(new URL(path, base), {
    method: method.toUpperCase() as 'GET',
    body: data ?? null,
    headers: data === undefined ? {} : { 'content-type': 'application/json' },
  });
  const text = await response.body.text();
  const ms = Math.round(performance.now() - started);
  if (flags.json) {
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: keep the text.
    }
    printJson({ status: response.statusCode, timeMs: ms, body });
  } else {
    process.stderr.write(`HTTP ${response.statusCode} in ${ms} ms\n`);
    if (text) process.stdout.write(`${text}\n`);
  }
  return response.statusCode < 400 ? 0 : 1;
}
