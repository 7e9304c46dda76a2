// A log that cannot be read is an error the user sees, never a log that just ends: journalctl
// failing (here for real, on a unit name it refuses) becomes RUSTLESS_BACKEND_FAILED with its own
// words, and a stream that fails after its 200 went out carries that error to the client as its
// last line, which `rustless logs` then prints (exit 1).
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AdminClient } from '../../../src/admin/admin-client.js';
import { createAdminHandler } from '../../../src/admin/admin-server.js';
import { journal } from '../../../src/backends/systemd/systemctl.js';
import type { Gateway } from '../../../src/gateway/gateway.js';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const seen: string[] = [];
  for await (const line of lines) seen.push(line);
  return seen;
}

/** The real admin handler on a unix socket, and a client of it. */
async function serve(t: Test, gateway: Gateway): Promise<AdminClient> {
  const dir = await mkdtemp(join(tmpdir(), 'rustless-stream-errors-'));
  const socket = join(dir, 'admin.sock');
  const server = createServer(createAdminHandler(gateway));
  await new Promise<void>((done) => server.listen(socket, done));
  const client = new AdminClient({ kind: 'socket', path: socket });
  t.teardown(async () => {
    await client.close();
    await new Promise((done) => server.close(done));
    await rm(dir, { recursive: true, force: true });
  });
  return client;
}

t.test('journalctl failing is an error with its own words', async (t) => {
  await t.rejects(collect(journal('', { follow: true })), { code: 'RUSTLESS_BACKEND_FAILED', message: /`journalctl -u  --merge .* -f` failed: Failed to add filter for units/ });
});

t.test('a stream that fails midway ends in that error, which the client throws', async (t) => {
  // The one method this route calls: two lines, then what journalctl failing throws.
  const gateway = {
    async *logs() {
      yield 'first';
      yield 'second';
      yield* journal('');
    },
  } as unknown as Gateway;
  const client = await serve(t, gateway);

  const seen: string[] = [];
  await t.rejects(
    (async () => {
      for await (const line of client.logs('greeter', { follow: true })) seen.push(line);
    })(),
    { code: 'RUSTLESS_BACKEND_FAILED', message: /journalctl .* failed: Failed to add filter for units/ },
  );
  t.same(seen, ['first', 'second'], 'the lines before the failure arrived first');
});

t.test('a log line that looks like an error body is still a log line', async (t) => {
  const hostile = JSON.stringify({ error: { code: 'RUSTLESS_UNAUTHORIZED', message: 'a runner printed this' } });
  const gateway = {
    async *logs() {
      yield hostile;
    },
  } as unknown as Gateway;
  const client = await serve(t, gateway);
  t.same(await collect(client.logs('greeter')), [hostile]);
});
