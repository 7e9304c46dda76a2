/**
 * DNS-SD (mDNS) for `_rustless._tcp`: the gateway advertises itself (with `--advertise` or a
 * TCP admin listener), and the CLI browses for it when no host was named and no local admin
 * socket answers. What it offers is `ssh://<address><admin socket>`, plus the TCP listener's
 * URL when there is one (TXT `admin-socket`, `tcp-admin`).
 */
import { Bonjour, type Service } from 'bonjour-service';

export const SERVICE_TYPE = 'rustless';

export interface Advertisement {
  /** Sends the DNS-SD goodbye and closes the mDNS socket. */
  stop(): Promise<void>;
}

export interface DiscoveredHost {
  /** The admin socket through ssh: `ssh://address/run/rustless/admin.sock`. */
  ssh: string;
  /** The TCP admin listener's base URL, `http://address:port`, when the gateway has one. */
  url?: string;
  name: string;
}

export interface AdvertiseOptions {
  port: number;
  name: string;
  /** The admin socket's path on this host, for `ssh://` (default /run/rustless/admin.sock). */
  adminSocket?: string;
  /** Whether `port` is a TCP admin listener (else it is only the public HTTP port). */
  tcpAdmin?: boolean;
}

const DEFAULT_ADMIN_SOCKET = '/run/rustless/admin.sock';

/** Advertises `_rustless._tcp` on `port` under `name` until `stop()`. */
export function advertise({ port, name, adminSocket = DEFAULT_ADMIN_SOCKET, tcpAdmin = true }: AdvertiseOptions): Advertisement {
  const bonjour = new Bonjour();
  const txt = { path: '/v1', 'admin-socket': adminSocket, 'tcp-admin': tcpAdmin ? '1' : '0' };
  const service = bonjour.publish({ name, type: SERVICE_TYPE, port, txt });
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        // The goodbye packet goes out before the socket closes, so browsers drop us at once.
        service.stop?.(() => bonjour.destroy(() => resolve()));
      });
      return stopping;
    },
  };
}

/** Collects every `_rustless._tcp` service that answers within `timeoutMs`. */
export function browse({ timeoutMs }: { timeoutMs: number }): Promise<DiscoveredHost[]> {
  return new Promise((resolve) => {
    const found = new Map<string, DiscoveredHost>();
    const bonjour = new Bonjour({}, () => {
      // A socket error (no multicast route, say) means nothing can be found: end with what we have.
      finish();
    });
    const browser = bonjour.find({ type: SERVICE_TYPE }, (service: Service) => {
      const host = toHost(service);
      if (host) found.set(host.ssh, host);
    });
    let done = false;
    const timer = setTimeout(() => finish(), timeoutMs);
    function finish(): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      browser.stop();
      bonjour.destroy(() => resolve([...found.values()]));
    }
  });
}

function toHost(service: Service): DiscoveredHost | undefined {
  const ipv4 = service.addresses?.find((address) => /^\d+\.\d+\.\d+\.\d+$/.test(address));
  const address = ipv4 ?? service.referer?.address ?? service.addresses?.[0];
  if (!address || !service.port) return undefined;
  const hostPart = address.includes(':') ? `[${address}]` : address;
  const txt = (service.txt ?? {}) as Record<string, unknown>;
  const socket = typeof txt['admin-socket'] === 'string' && txt['admin-socket'].startsWith('/') ? txt['admin-socket'] : DEFAULT_ADMIN_SOCKET;
  const tcpAdmin = txt['tcp-admin'] !== '0';
  return { ssh: `ssh://${hostPart}${socket}`, ...(tcpAdmin ? { url: `http://${hostPart}:${service.port}` } : {}), name: service.name };
}
