// HTTPS at the edge, for real, in a trixie test host of its own (instance `e2e-https`):
// rust-less installed with `install.mjs --public`, Debian's Caddy in front, and Debian's Pebble
// (Let's Encrypt's test ACME server) as the CA Caddy gets its certificate from. curl then sends
// GitHub-shaped deliveries to the webhook example over HTTPS and HTTP/2, as GitHub would.
// The guest shares this machine's network, so every port is a free one, not 80/443.
import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { boot, down } from '../../scripts/lib/testhost.mjs';
import { freePort } from '../helpers/free-port.js';
import { githubDelivery, type Delivery } from '../helpers/github-delivery.js';
import { checkoutBinds, cleanShell, type Guest, type GuestResult } from '../helpers/guest.js';
import { requireTestHostPrerequisites } from '../helpers/test-host-prerequisites.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'e2e-https';
const SRC = '/src/rustless';
const DOMAIN = 'hooks.rustless.test';
const SECRET = 'a webhook secret for the https test';
/** Pebble's own TLS certificate, its CA, and its config: readable by Caddy (not under /root). */
const PEBBLE_DIR = '/etc/pebble-test';

requireTestHostPrerequisites(t, ROOT);
t.setTimeout(30 * 60_000);

let host: Guest;
const ports = { gateway: 0, acme: 0, management: 0, http: 0, https: 0 };

t.teardown(() => down({ name: NAME, log: () => {} }));

function guest(cmd: string, input?: string): Promise<GuestResult> {
  return host.run(cleanShell(cmd), { timeoutMs: 600_000, ...(input === undefined ? {} : { input }) });
}

async function ok(tt: Test, cmd: string, message?: string): Promise<GuestResult> {
  const result = await guest(cmd);
  tt.equal(result.exitCode, 0, message ?? cmd, { stdout: result.stdout.slice(-3000), stderr: result.stderr.slice(-3000) });
  return result;
}

/** curl in the guest against the public name, from 127.0.0.2 (a client that is not the proxy). */
async function curl(args: string, input?: string): Promise<{ status: number; version: string; redirect: string; body: any; text: string; exitCode: number; stderr: string }> {
  const cmd = `curl -sS --resolve ${DOMAIN}:${ports.https}:127.0.0.1 --resolve ${DOMAIN}:${ports.http}:127.0.0.1 --interface 127.0.0.2 --cacert ${PEBBLE_DIR}/issued-root.pem -w '\\n%{http_code} %{http_version} %{redirect_url}' ${args}`;
  const result = await guest(cmd, input);
  const lines = result.stdout.split('\n');
  const [status, version, redirect] = (lines.pop() ?? '').split(' ');
  const text = lines.join('\n');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: Number(status), version: version ?? '', redirect: redirect ?? '', body, text, exitCode: result.exitCode, stderr: result.stderr };
}

/** A delivery over HTTPS: its headers as -H flags, its body on stdin, byte for byte. */
function deliver(delivery: Delivery, extra = ''): ReturnType<typeof curl> {
  const headers = Object.entries(delivery.headers).map(([name, value]) => `-H '${name}: ${value.replaceAll("'", "'\\''")}'`).join(' ');
  return curl(`${extra} ${headers} --data-binary @- https://${DOMAIN}:${ports.https}/webhook/github`, delivery.body);
}

t.test('boot the test host, start Pebble, install rust-less with --public', async (t) => {
  for (const name of Object.keys(ports) as Array<keyof typeof ports>) ports[name] = await freePort();
  t.comment(`ports ${JSON.stringify(ports)}`);
  host = (await boot({ name: NAME, binds: checkoutBinds(ROOT, SRC), log: (m: string) => t.comment(m) })) as Guest;

  // Pebble serves ACME over HTTPS: a CA of our own signs its certificate, and Caddy trusts that CA.
  await ok(
    t,
    [
      `set -e; mkdir -p ${PEBBLE_DIR}; cd ${PEBBLE_DIR}`,
      'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=pebble-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -keyout ca.key -out ca.pem 2>/dev/null',
      'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out cert.csr 2>/dev/null',
      'printf "subjectAltName=IP:127.0.0.1,DNS:localhost\\n" > san.ext',
      'openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out cert.pem 2>/dev/null',
      'chmod 644 ca.pem cert.pem',
    ].join('\n'),
    "Pebble's certificate",
  );
  const config = { pebble: { listenAddress: `127.0.0.1:${ports.acme}`, managementListenAddress: `127.0.0.1:${ports.management}`, certificate: `${PEBBLE_DIR}/cert.pem`, privateKey: `${PEBBLE_DIR}/key.pem`, httpPort: ports.http, tlsPort: ports.https, ocspResponderURL: '', externalAccountBindingRequired: false } };
  await host.writeFile(`${PEBBLE_DIR}/pebble.json`, JSON.stringify(config));
  // PEBBLE_VA_ALWAYS_VALID: no challenge is checked (nothing on the internet resolves the test
  // name); PEBBLE_WFE_NONCEREJECT=0: no nonce refused at random, so the run is repeatable.
  await ok(t, `systemd-run --unit=pebble -E PEBBLE_VA_ALWAYS_VALID=1 -E PEBBLE_WFE_NONCEREJECT=0 /usr/bin/pebble -config ${PEBBLE_DIR}/pebble.json`, 'Pebble runs');
  await eventually(async () => (await guest(`curl -sf --cacert ${PEBBLE_DIR}/ca.pem https://127.0.0.1:${ports.acme}/dir`)).exitCode === 0, 20_000, "Pebble's directory");
  // The root that signs what Pebble issues: made at its start, so fetched now.
  await ok(t, `curl -sf --cacert ${PEBBLE_DIR}/ca.pem https://127.0.0.1:${ports.management}/roots/0 > ${PEBBLE_DIR}/issued-root.pem`);

  const install = await ok(
    t,
    `cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${ports.gateway} --public ${DOMAIN} --email hooks@rustless.test ` +
      `--acme-ca https://127.0.0.1:${ports.acme}/dir --acme-ca-root ${PEBBLE_DIR}/ca.pem --http-port ${ports.http} --https-port ${ports.https} --gateway-flags="--idle-timeout 60"`,
    'install.mjs --public succeeds',
  );
  t.match(install.stdout, new RegExp(`Caddy serves https://${DOMAIN.replaceAll('.', '\\.')}:${ports.https}`));
  t.match((await ok(t, 'cat /etc/caddy/Caddyfile')).stdout, `reverse_proxy 127.0.0.1:${ports.gateway}`);
  t.equal((await guest('systemctl is-active caddy')).stdout.trim(), 'active', 'Caddy runs');
  // The guest shares this machine's network: its listening sockets are in /proc/net/tcp here.
  t.same(await listeners(ports.gateway), ['127.0.0.1'], 'the gateway listens on loopback, and nowhere else');

  await ok(t, 'mkdir -p /root/apps && cp -r /src/rustless/runner/examples/webhook /root/apps/webhook && rm -rf /root/apps/webhook/target');
  const deploy = await guest('rustless deploy /root/apps/webhook');
  t.equal(deploy.exitCode, 0, 'rustless deploy webhook', { output: deploy.stdout + deploy.stderr });
  t.equal((await guest('rustless secret set webhook GITHUB_WEBHOOK_SECRET', `${SECRET}\n`)).exitCode, 0, 'rustless secret set');
});

t.test("Caddy gets a certificate for the name from Pebble; curl trusts it with Pebble's root", async (t) => {
  let reply = await curl(`https://${DOMAIN}:${ports.https}/webhook/github`);
  const deadline = Date.now() + 60_000;
  while (reply.exitCode !== 0 && Date.now() < deadline) {
    await sleep(500);
    reply = await curl(`https://${DOMAIN}:${ports.https}/webhook/github`);
  }
  t.equal(reply.exitCode, 0, 'a TLS handshake curl verifies against the root Pebble issues from', { stderr: reply.stderr });
  t.equal(reply.status, 405, 'GET /webhook/github: the gateway answers through Caddy');
  t.match((await guest('journalctl -u caddy --no-pager -o cat')).stdout, /certificate obtained successfully/);
  t.match((await guest(`curl -sS --resolve ${DOMAIN}:${ports.https}:127.0.0.1 https://${DOMAIN}:${ports.https}/ 2>&1`)).stdout, /certificate/i, 'without the test root, curl refuses the certificate');
});

t.test('a signed delivery over HTTPS and HTTP/2 gets 200, and the function sees the client, not Caddy', async (t) => {
  // A client's own X-Forwarded-For is dropped by Caddy: the function sees the address Caddy saw.
  const reply = await deliver(githubDelivery({ secret: SECRET }), "-H 'X-Forwarded-For: 6.6.6.6'");
  t.equal(reply.status, 200, reply.text);
  t.equal(reply.version, '2', 'HTTP/2');
  t.equal(reply.body.from, '127.0.0.2', 'the client address reached the function');
  t.equal(reply.body.repository, 'octo-org/pi-hooks');
  const form = await deliver(githubDelivery({ secret: SECRET, form: true }));
  t.equal(form.status, 200, `form: ${form.text}`);
  const delivery = githubDelivery({ secret: SECRET });
  t.equal((await deliver(delivery)).status, 200);
  t.equal((await deliver(delivery)).status, 409, 'a replay');
  t.equal((await deliver(githubDelivery({ secret: 'forged' }))).status, 401, 'a forgery');
  await eventually(async () => /delivery [0-9a-f-]+: push on octo-org\/pi-hooks from 127\.0\.0\.2/.test((await guest('rustless logs webhook')).stdout), 10_000, 'the delivery in rustless logs');
  t.pass('rustless logs shows the delivery with the client address');
});

t.test('plain HTTP is redirected to HTTPS; the admin API is not there', async (t) => {
  const plain = await curl(`http://${DOMAIN}:${ports.http}/webhook/github?x=1`);
  t.equal(plain.status, 308);
  // Caddy 2.6 writes the redirect for port 443 whatever https_port says: what clients use in production.
  t.match(plain.redirect, new RegExp(`^https://${DOMAIN.replaceAll('.', '\\.')}(:${ports.https})?/webhook/github\\?x=1$`));
  const admin = await curl(`https://${DOMAIN}:${ports.https}/v1/apps`);
  t.equal(admin.status, 404);
  t.equal(admin.body.error.code, 'RUSTLESS_NOT_FOUND', "the gateway's public 404: no admin API behind the name");
  // No procps in the guest: Caddy's RSS (KiB) from /proc.
  const rss = (await guest("awk '/^VmRSS/ {print $2}' /proc/$(systemctl show -P MainPID caddy)/status")).stdout.trim();
  t.comment(`Caddy RSS in the test host: ${(Number(rss) / 1024).toFixed(1)} MiB`);
});

t.test('--uninstall takes Caddy off again', async (t) => {
  await ok(t, `cd ${SRC} && node node_modules/zx/build/cli.js scripts/install.mjs --uninstall`);
  t.not((await guest('systemctl is-active caddy')).stdout.trim(), 'active');
  t.not((await guest('grep -qs "Written by rust-less" /etc/caddy/Caddyfile')).exitCode, 0, 'the Caddyfile of ours is gone');
  t.match((await ok(t, 'cat /etc/caddy/Caddyfile')).stdout, /^:80 \{/m, "Debian's own Caddyfile is back");
});

/** The addresses with a listening TCP socket on `port` (IPv4 and IPv6), from /proc/net. */
async function listeners(port: number): Promise<string[]> {
  const addresses: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(file, 'utf8')).split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local) continue;
      const [hex, portHex] = local.split(':');
      if (Number.parseInt(portHex!, 16) !== port) continue;
      // IPv4 is one little-endian word; IPv6 four of them.
      const bytes = hex!.match(/../g)!.map((b) => Number.parseInt(b, 16));
      const words = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.slice(i * 4, i * 4 + 4).reverse());
      addresses.push(words.length === 1 ? words[0]!.join('.') : words.flat().map((b) => b.toString(16).padStart(2, '0')).join('').replace(/(.{4})(?!$)/g, '$1:'));
    }
  }
  return addresses;
}

async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}
