// cargo's `--config` flags for this machine: none when crates.io answers, the Debian crate
// registry otherwise. The same decision the builder makes (src/build/crate-source.ts), for
// scripts that run cargo directly.
import net from 'node:net';
import fs from 'node:fs';

export const DEBIAN_REGISTRY = '/usr/share/cargo/registry';

export async function cargoConfigFlags() {
  const choice = process.env.RUSTLESS_CRATES ?? 'auto';
  if (choice === 'crates-io') return [];
  if (choice === 'auto' && (await reachable('index.crates.io', 443, 1500))) return [];
  if (!fs.existsSync(DEBIAN_REGISTRY)) return [];
  return [
    '--config', 'source.crates-io.replace-with="debian-registry"',
    '--config', `source.debian-registry.directory="${DEBIAN_REGISTRY}"`,
    '--config', 'net.offline=true',
  ];
}

function reachable(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
