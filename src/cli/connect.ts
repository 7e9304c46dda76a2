/** Finds the gateway the way issue #4 lays out, and opens an admin client to it (through ssh for ssh://). */
import { AdminClient } from '../admin/admin-client.js';
import { findHost } from '../discovery/find-host.js';

export interface ConnectOptions {
  host?: string | undefined;
  token?: string | undefined;
}

export async function connect(options: ConnectOptions): Promise<{ client: AdminClient; via: string }> {
  const { host, via } = await findHost({ host: options.host, token: options.token });
  return { client: await AdminClient.open(host), via };
}
