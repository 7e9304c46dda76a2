// `install.mjs --public DOMAIN`: HTTPS at the edge with Caddy (Debian's package) in front of the
// gateway. Caddy gets the certificate over ACME, redirects HTTP to HTTPS, speaks HTTP/2 and
// proxies to the gateway, which then listens on loopback only and believes X-Forwarded-For
// from Caddy alone (RUSTLESS_TRUST_PROXY). The admin API stays a unix socket: never proxied.
// docs/webhooks.md walks through it on a Pi.
import { $, fs, path, which } from 'zx';

export const CADDYFILE = '/etc/caddy/Caddyfile';
/** The first line of a Caddyfile this script wrote: it may be replaced without a backup. */
const MARK = '# Written by rust-less';
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Checks --public and its companions; returns an error message, or undefined when they are fine. */
export function checkPublicOptions({ domain, email, acmeCa, httpPort, httpsPort }) {
  if (typeof domain !== 'string' || !DOMAIN.test(domain.toLowerCase())) return `--public takes the DNS name clients use, such as hooks.example.org, got ${JSON.stringify(domain)}`;
  if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(String(email))) return `--email must be an e-mail address (Let's Encrypt writes to it about expiring certificates), got ${JSON.stringify(email)}`;
  if (acmeCa !== undefined && !/^https:\/\/\S+$/.test(String(acmeCa))) return `--acme-ca must be an https:// ACME directory URL, got ${JSON.stringify(acmeCa)}`;
  for (const [flag, value] of [['--http-port', httpPort], ['--https-port', httpsPort]]) {
    if (value !== undefined && !(/^\d+$/.test(String(value)) && Number(value) > 0 && Number(value) < 65536)) return `${flag} must be a port number, got ${JSON.stringify(value)}`;
  }
  return undefined;
}

/** The Caddyfile: one site, the domain, proxied to the gateway's loopback port. */
export function renderCaddyfile({ domain, gatewayPort, email, acmeCa, acmeCaRoot, httpPort, httpsPort }) {
  const global = [
    email && `\temail ${email}`,
    acmeCa && `\tacme_ca ${acmeCa}`,
    acmeCaRoot && `\tacme_ca_root ${acmeCaRoot}`,
    httpPort && `\thttp_port ${httpPort}`,
    httpsPort && `\thttps_port ${httpsPort}`,
  ].filter(Boolean);
  return [
    `${MARK} (scripts/install.mjs --public ${domain}); an earlier Caddyfile is kept as Caddyfile.before-rustless.`,
    '# Caddy gets and renews the certificate (ACME), redirects HTTP to HTTPS and speaks HTTP/2 and 3.',
    ...(global.length ? ['{', ...global, '}', ''] : ['']),
    `${domain.toLowerCase()} {`,
    "\t# The gateway's public port, on loopback only. It believes X-Forwarded-For from here alone, which",
    '\t# Caddy sets to the address it saw (a client\'s own X-Forwarded-For is dropped). The admin API is a',
    '\t# unix socket and is never proxied.',
    `\treverse_proxy 127.0.0.1:${gatewayPort}`,
    '}',
    '',
  ].join('\n');
}

/**
 * Writes the Caddyfile and the units' drop-ins, then (re)starts Caddy. The caller re-binds
 * rustless.socket afterwards: its public port moved to loopback.
 */
export async function installPublic({ domain, gatewayPort, unitDir, email, acmeCa, acmeCaRoot, httpPort, httpsPort, say }) {
  if (!(await which('caddy', { nothrow: true }))) throw new Error('--public needs Caddy: apt install caddy');
  const caddyfile = renderCaddyfile({ domain, gatewayPort, email, acmeCa, acmeCaRoot, httpPort, httpsPort });
  if (await fs.pathExists(CADDYFILE)) {
    const old = await fs.readFile(CADDYFILE, 'utf8');
    if (!old.startsWith(MARK)) await fs.writeFile(`${CADDYFILE}.before-rustless`, old);
  }
  await fs.mkdirp(path.dirname(CADDYFILE));
  await fs.writeFile(CADDYFILE, caddyfile);
  await $`caddy validate --adapter caddyfile --config ${CADDYFILE}`.quiet();

  const socketDropIn = path.join(unitDir, 'rustless.socket.d');
  await fs.mkdirp(socketDropIn);
  // --port's drop-in would put the port back on every interface.
  await fs.remove(path.join(socketDropIn, 'port.conf'));
  await fs.writeFile(
    path.join(socketDropIn, 'public.conf'),
    `# Written by scripts/install.mjs --public ${domain}: Caddy faces the network, the gateway listens on loopback.\n[Socket]\nListenStream=\nListenStream=127.0.0.1:${gatewayPort}\n`,
  );
  const serviceDropIn = path.join(unitDir, 'rustless.service.d');
  await fs.mkdirp(serviceDropIn);
  await fs.writeFile(
    path.join(serviceDropIn, 'public.conf'),
    `# Written by scripts/install.mjs --public ${domain}: the client address is the one Caddy (on loopback) saw.\n[Service]\nEnvironment=RUSTLESS_TRUST_PROXY=127.0.0.1\n`,
  );
  await $`systemctl enable caddy.service`.quiet();
  await $`systemctl restart caddy.service`;
  say(`Caddy serves https://${domain.toLowerCase()}${httpsPort && Number(httpsPort) !== 443 ? `:${httpsPort}` : ''} and proxies it to the gateway on 127.0.0.1:${gatewayPort} (${CADDYFILE})`);
}

/**
 * Takes out what installPublic wrote and stops Caddy; a Caddyfile from before comes back (its
 * owner starts Caddy again if it served something else: `systemctl enable --now caddy`).
 */
export async function uninstallPublic({ unitDir }) {
  await fs.remove(path.join(unitDir, 'rustless.socket.d', 'public.conf'));
  await fs.remove(path.join(unitDir, 'rustless.service.d', 'public.conf'));
  if (!(await fs.pathExists(CADDYFILE)) || !(await fs.readFile(CADDYFILE, 'utf8')).startsWith(MARK)) return false;
  await $({ nothrow: true })`systemctl disable --now caddy.service`;
  const before = `${CADDYFILE}.before-rustless`;
  if (await fs.pathExists(before)) await fs.move(before, CADDYFILE, { overwrite: true });
  else await fs.remove(CADDYFILE);
  return true;
}
