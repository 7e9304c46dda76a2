/**
 * The gateway's public URL as this client can reach it. A gateway listening on every address
 * reports `http://127.0.0.1:PORT`, which is right on its own machine and wrong on a laptop
 * talking to it over ssh:// or a TCP admin URL: there it names the laptop itself. So a loopback
 * host is replaced by the host the admin connection goes to.
 */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** `remoteHost`: the admin connection's far host, undefined when it is this machine. */
export function reachablePublicUrl(publicUrl: string | null, remoteHost: string | undefined): string | null {
  if (publicUrl === null || remoteHost === undefined || LOOPBACK.has(remoteHost)) return publicUrl;
  const url = new URL(publicUrl);
  if (!LOOPBACK.has(url.hostname)) return publicUrl;
  url.hostname = remoteHost.includes(':') && !remoteHost.startsWith('[') ? `[${remoteHost}]` : remoteHost;
  return url.toString().replace(/\/$/, '');
}
