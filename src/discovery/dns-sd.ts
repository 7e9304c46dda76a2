/**
 * DNS-SD (mDNS) for `_rustless._tcp`: the gateway advertises its TCP admin listener, and the
 * CLI browses for it when no host was named and no local admin socket answers.
 */
import { Bonjour, type Service } from 'bonjour-service';

export const SERVICE_TYPE = 'rustless';

export interface Advertisement {
  /** Sends the DNS-SD goodbye and closes the mDNS socket. */
  stop(): Promise<void>;
}

export interface DiscoveredHost {
  /** The admin API's base URL, `http://address:port`. */
  url: string;
  name: string;
}

/** Advertises `_rustless._tcp` on `port` under `name` until `stop()`. */
export function advertise({ port, name }: { port: number; name: string }): Advertisement {
  const bonjour = new Bonjour();
  const service = bonjour.publish({ name, type: SERVICE_TYPE, port, txt: { path: '/v1', scheme: 'http' } });
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
      if (host) found.set(host.url, host);
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
  return { url: `http://${hostPart}:${service.port}`, name: service.name };
}
