/**
 * The client address a function sees in `x-forwarded-for`: the peer of the connection, unless
 * that peer is a proxy the gateway was told to trust (`--trust-proxy`, Caddy in front with
 * `rustless install --public`). Then it is the address that proxy put last in its
 * X-Forwarded-For: the one it saw itself. What a client wrote there is never believed, and a
 * proxy that is not trusted cannot make it believed either.
 */
import { isIP } from 'node:net';
import { RustlessError } from '../errors.js';

/** A connection over a unix socket has no address: this name trusts those peers. */
export const UNIX_PEER = 'unix';

/** `127.0.0.1,::1,unix` into a list, naming what is neither an IP address nor `unix`. */
export function parseTrustedProxies(text: string): string[] {
  const list = text.split(',').map((item) => item.trim()).filter(Boolean);
  for (const item of list) {
    if (item !== UNIX_PEER && isIP(item) === 0) {
      throw new RustlessError('RUSTLESS_BAD_REQUEST', `--trust-proxy takes IP addresses and "unix" (a proxy on the gateway's unix socket), separated by commas; got ${JSON.stringify(item)}`);
    }
  }
  return list.map(normalize);
}

export class ClientAddresses {
  readonly #trusted: ReadonlySet<string>;

  constructor(trusted: readonly string[] = []) {
    this.#trusted = new Set(trusted.map(normalize));
  }

  get trustsAny(): boolean {
    return this.#trusted.size > 0;
  }

  /**
   * The client's address, from the connection's peer (undefined on a unix socket) and the
   * request's X-Forwarded-For (all its values joined with `,`); undefined when there is none.
   */
  of(peer: string | undefined, forwardedFor: string | undefined): string | undefined {
    const address = peer === undefined ? UNIX_PEER : normalize(peer);
    if (forwardedFor !== undefined && this.#trusted.has(address)) {
      const last = forwardedFor.slice(forwardedFor.lastIndexOf(',') + 1).trim();
      if (isIP(last) !== 0) return normalize(last);
    }
    return peer === undefined ? undefined : address;
  }
}

/** An IPv4 peer of a dual-stack socket reads `::ffff:1.2.3.4`: the same client as `1.2.3.4`. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
