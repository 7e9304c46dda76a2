// The webhook example on the local backend, through a real gateway and a real cargo build:
// GitHub-shaped deliveries, signed, tampered, replayed and form-encoded, as GitHub sends them.
import t from 'tap';
import { join } from 'node:path';
import { EXAMPLES, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { githubDelivery, pushPayload, type Delivery } from '../helpers/github-delivery.js';

const SECRET = 'pi-hooks: a long random secret';
let gw: TestGateway;

t.before(async () => {
  gw = await startGateway();
  const deployed = await gw.deploy(join(EXAMPLES, 'webhook'));
  if (deployed.exitCode !== 0) throw new Error(`deploying webhook failed:\n${deployed.stderr}`);
});
t.teardown(() => gw.stop());

const deliver = (delivery: Delivery) => gw.send('POST', '/webhook/github', delivery.body, delivery.headers);

t.test('before its secret is set, a delivery answers 500 naming the command', async (t) => {
  const reply = await deliver(githubDelivery({ secret: SECRET }));
  t.equal(reply.status, 500);
  t.equal(reply.body.error.code, 'SECRET_NOT_SET');
  t.match(reply.body.error.message, 'rustless secret set webhook GITHUB_WEBHOOK_SECRET');
  const set = await gw.cli(['secret', 'set', 'webhook', 'GITHUB_WEBHOOK_SECRET'], { input: `${SECRET}\n` });
  t.equal(set.exitCode, 0, set.stderr);
});

t.test('a signed JSON delivery is answered 200, once; its replay 409', async (t) => {
  const delivery = githubDelivery({ secret: SECRET });
  const first = await deliver(delivery);
  t.equal(first.status, 200, first.text);
  t.same(first.body, { delivery: delivery.id, event: 'push', action: null, repository: 'octo-org/pi-hooks', from: '127.0.0.1' });
  const replay = await deliver(delivery);
  t.equal(replay.status, 409);
  t.equal(replay.body.error.code, 'REPLAYED_DELIVERY');
  t.comment(`signed: ${first.status}; replayed: ${replay.status} ${replay.text}`);
});

t.test('forged, tampered and unsigned deliveries are answered 401 and recorded nowhere', async (t) => {
  const genuine = githubDelivery({ secret: SECRET });
  const tampered = { ...genuine, body: genuine.body.replace('refs/heads/main', 'refs/heads/evil') };
  const forged = githubDelivery({ secret: 'a guess', id: genuine.id });
  const unsigned = githubDelivery({ secret: undefined, id: genuine.id });
  const sha1Only = { ...genuine, headers: { ...genuine.headers, 'x-hub-signature-256': '' } };
  const flipped = { ...genuine, headers: { ...genuine.headers, 'x-hub-signature-256': genuine.headers['x-hub-signature-256']!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) } };
  // The same JSON, re-serialized: what a function that only had the parsed body would check.
  const reserialized = { ...genuine, body: JSON.stringify(JSON.parse(genuine.body)) };
  t.not(reserialized.body, genuine.body, 'GitHub’s escapes do not survive a re-serialization');
  for (const [what, delivery] of Object.entries({ tampered, forged, unsigned, sha1Only, flipped, reserialized })) {
    const reply = await deliver(delivery);
    t.equal(reply.status, 401, what);
    t.equal(reply.body.error.code, 'BAD_SIGNATURE', what);
    if (what === 'forged') t.comment(`forged: ${reply.status} ${reply.text}`);
  }
  t.equal((await deliver(genuine)).status, 200, 'the genuine delivery with the same ID still passes: forgeries burnt no ID');
});

t.test("GitHub's form content type: payload= in a form, signed over the form's bytes", async (t) => {
  const delivery = githubDelivery({ secret: SECRET, form: true, payload: pushPayload('octo-org/form hooks') });
  t.match(delivery.body, /^payload=%7B%22ref%22/);
  const reply = await deliver(delivery);
  t.equal(reply.status, 200, reply.text);
  t.equal(reply.body.repository, 'octo-org/form hooks', 'a + in the form is a space');
  t.comment(`form post: ${reply.status} ${reply.text}`);
  t.equal((await deliver(delivery)).status, 409);
  const tampered = { ...delivery, id: 'other', body: delivery.body.replace('main', 'evil') };
  t.equal((await deliver(tampered)).status, 401);
});

t.test('what the gateway refuses before the function runs', async (t) => {
  const delivery = githubDelivery({ secret: SECRET });
  const text = await gw.send('POST', '/webhook/github', delivery.body, { ...delivery.headers, 'content-type': 'text/plain' });
  t.equal(text.status, 415);
  t.match(text.body.error.message, 'application/json, application/x-www-form-urlencoded');
  const badJson = githubDelivery({ secret: SECRET, payload: '{"ref":' });
  t.equal((await deliver(badJson)).status, 400);
  t.equal((await gw.get('/webhook/github')).status, 405);
});

t.test('the IDs seen outlive the runner: a replay after a restart is still 409', async (t) => {
  const delivery = githubDelivery({ secret: SECRET, event: 'ping', payload: '{"zen":"Design for failure.","hook_id":292430182}' });
  t.equal((await deliver(delivery)).status, 200);
  const stopped = await gw.cli(['stop', 'webhook']);
  t.equal(stopped.exitCode, 0, stopped.stderr);
  const replay = await deliver(delivery);
  t.equal(replay.status, 409);
});

t.test('a burst of one delivery sent 8 times at once passes exactly once', async (t) => {
  const delivery = githubDelivery({ secret: SECRET });
  const replies = await Promise.all(Array.from({ length: 8 }, () => deliver(delivery)));
  t.same(replies.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409, 409, 409]);
});

t.test('rustless logs shows each delivery and each refusal', async (t) => {
  await eventually(async () => /delivery [0-9a-f-]+: push on octo-org\/pi-hooks from 127\.0\.0\.1/.test((await gw.cli(['logs', 'webhook'])).stdout), 5000, 'the delivery log line');
  const logs = (await gw.cli(['logs', 'webhook'])).stdout;
  t.match(logs, /refused a delivery from 127\.0\.0\.1: X-Hub-Signature-256 does not match the body/);
  t.match(logs, /refused delivery [0-9a-f-]+ from 127\.0\.0\.1: already received \(a replay\)/);
  t.match(logs, /POST \/webhook\/github -> GitHub 401 [0-9.]+ms from 127\.0\.0\.1/, "the runner's access line names the client");
  t.notMatch(logs, new RegExp(SECRET), 'the secret is in no log line');
});
