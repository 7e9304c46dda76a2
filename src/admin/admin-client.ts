/**
 * A client of the admin API, over the admin unix socket, a remote one through ssh, or a TCP
 * URL with a bearer token. Used by the CLI and the TUI. API errors come back as RustlessError
 * with the server's code.
 *
 * It speaks through node:http, not undici: undici's import and its llhttp WebAssembly stayed
 * in the TUI's memory for its whole life (x86: 18 MiB of a 129 MiB TUI), on a Pi where the
 * TUI runs beside the functions. undici stays where an app is called (invoke), loaded then.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Agent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { RustlessError, type ErrorBody, type ErrorCode } from '../errors.js';
import type { BuildEvent } from '../builder/events.js';
import type { AppDetail, AppSummary, BuildInfo, DataChoice, ExportSource, GatewayInfo, SecretInfo } from '../api/types.js';
import { reachablePublicUrl } from './public-url.js';
import { sshHostname, SshTunnel, type SshTarget } from './ssh-tunnel.js';

export type HostSpec =
  | { kind: 'socket'; path: string }
  | { kind: 'url'; url: string; token?: string | undefined }
  | ({ kind: 'ssh' } & SshTarget);

export function describeHost(host: HostSpec): string {
  return host.kind === 'socket' ? host.path : host.url;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A response whose status is below 400; its body is still to be read. */
interface Response {
  statusCode: number;
  body: IncomingMessage;
}

export class AdminClient {
  readonly host: HostSpec;
  /** Where requests go: the admin socket (or the tunnel's), else the URL's host and port. */
  readonly #target: RequestOptions;
  readonly #secure: boolean;
  /** Keeps connections between requests, as the TUI polls every second. */
  #agent: Agent | undefined;
  readonly #headers: Record<string, string>;
  readonly #tunnel: SshTunnel | undefined;

  /** For `ssh://` hosts use `AdminClient.open`, which starts the tunnel first. */
  constructor(host: HostSpec, tunnel?: SshTunnel) {
    this.host = host;
    this.#tunnel = tunnel;
    if (host.kind === 'ssh' && !tunnel) throw new RustlessError('RUSTLESS_INTERNAL', 'an ssh:// host needs its tunnel: use AdminClient.open');
    const socketPath = host.kind === 'socket' ? host.path : tunnel?.localSocket;
    const url = socketPath ? undefined : new URL((host as { url: string }).url);
    this.#target = url ? { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || undefined } : { socketPath, host: 'admin' };
    this.#secure = url?.protocol === 'https:';
    this.#headers = host.kind === 'url' && host.token ? { authorization: `Bearer ${host.token}` } : {};
  }

  /** A client for any host: through an ssh tunnel for `ssh://`, directly otherwise. */
  static async open(host: HostSpec): Promise<AdminClient> {
    return host.kind === 'ssh' ? new AdminClient(host, await SshTunnel.open(host)) : new AdminClient(host);
  }

  info(): Promise<GatewayInfo> {
    return this.#json('GET', '/v1/info');
  }

  /** Where to send requests to the gateway's apps from here (see public-url.ts); null without a TCP listener. */
  async publicUrl(): Promise<string | null> {
    const { publicUrl } = await this.info();
    if (this.host.kind === 'socket' || publicUrl === null) return publicUrl;
    const remote = this.host.kind === 'ssh' ? await sshHostname(this.host) : new URL(this.host.url).hostname;
    return reachablePublicUrl(publicUrl, remote);
  }

  async apps(): Promise<AppSummary[]> {
    return (await this.#json<{ apps: AppSummary[] }>('GET', '/v1/apps')).apps;
  }

  async app(name: string): Promise<AppDetail> {
    return (await this.#json<{ app: AppDetail }>('GET', `/v1/apps/${encodeURIComponent(name)}`)).app;
  }

  /** Without `data`, an app that has a data directory is refused with RUSTLESS_DATA_CHOICE_NEEDED. */
  async deleteApp(name: string, data?: DataChoice): Promise<void> {
    await this.#json('DELETE', `/v1/apps/${encodeURIComponent(name)}${data ? `?data=${data}` : ''}`);
  }

  async secrets(app: string): Promise<SecretInfo[]> {
    return (await this.#json<{ secrets: SecretInfo[] }>('GET', `/v1/apps/${encodeURIComponent(app)}/secrets`)).secrets;
  }

  async setSecret(app: string, name: string, value: Buffer): Promise<void> {
    await this.#json('PUT', `/v1/apps/${encodeURIComponent(app)}/secrets/${encodeURIComponent(name)}`, value, 'application/octet-stream');
  }

  async removeSecret(app: string, name: string): Promise<void> {
    await this.#json('DELETE', `/v1/apps/${encodeURIComponent(app)}/secrets/${encodeURIComponent(name)}`);
  }

  async stopApp(name: string): Promise<void> {
    await this.#json('POST', `/v1/apps/${encodeURIComponent(name)}/stop`);
  }

  async rollback(name: string, build?: number): Promise<AppDetail> {
    const body = JSON.stringify(build === undefined ? {} : { build });
    return (await this.#json<{ app: AppDetail }>('POST', `/v1/apps/${encodeURIComponent(name)}/rollback`, body, 'application/json')).app;
  }

  /** What export writes `app`'s manifests from: its serving build (or build `build`). */
  async exportSource(app: string, build?: number): Promise<ExportSource> {
    return (await this.#json<{ export: ExportSource }>('GET', `/v1/apps/${encodeURIComponent(app)}/export${build === undefined ? '' : `?build=${build}`}`)).export;
  }

  /**
   * Saves build `build` of `app` as an OCI archive at `file`, streamed from the host as Podman
   * writes it. The file appears only whole: an archive broken off midway is not left behind.
   */
  async saveImage(app: string, build: number, file: string): Promise<void> {
    const response = await this.#request('GET', `/v1/apps/${encodeURIComponent(app)}/export/image?build=${build}`);
    const partial = `${file}.partial`;
    try {
      await pipeline(response.body, createWriteStream(partial));
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      throw new RustlessError('RUSTLESS_BACKEND_FAILED', `the image of ${app} (build #${build}) broke off on its way from ${describeHost(this.host)}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Has the host tag build `build` of `app` as `REGISTRY/PREFIX/<app>:<build>` and push it; returns that name. */
  async pushImage(app: string, build: number, registry: string): Promise<string> {
    const body = JSON.stringify({ registry, build });
    return (await this.#json<{ image: string }>('POST', `/v1/apps/${encodeURIComponent(app)}/export/push`, body, 'application/json')).image;
  }

  async upload(archive: Buffer): Promise<BuildInfo> {
    return (await this.#json<{ build: BuildInfo }>('POST', '/v1/builds', archive, 'application/gzip')).build;
  }

  async build(id: number): Promise<BuildInfo> {
    return (await this.#json<{ build: BuildInfo }>('GET', `/v1/builds/${id}`)).build;
  }

  async *buildEvents(id: number, signal?: AbortSignal): AsyncIterable<BuildEvent> {
    yield* this.#ndjson<BuildEvent>(`/v1/builds/${id}/events`, signal);
  }

  async *logs(app: string, { lines = 100, follow = false, signal }: { lines?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<string> {
    const query = `lines=${lines}${follow ? '&follow=1' : ''}`;
    for await (const item of this.#ndjson<{ line: string }>(`/v1/apps/${encodeURIComponent(app)}/logs?${query}`, signal)) yield item.line;
  }

  async close(): Promise<void> {
    this.#agent?.destroy();
    await this.#tunnel?.close();
  }

  async #send(method: Method, path: string, body: string | Buffer | undefined, contentType: string | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const headers: Record<string, string | number> = { ...this.#headers };
    if (contentType) headers['content-type'] = contentType;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    // https only for a URL host that asks for it; node:https (and TLS) load then, not before.
    const https = this.#secure ? await import('node:https') : undefined;
    const request = https?.request ?? httpRequest;
    const agent = (this.#agent ??= new (https?.Agent ?? Agent)({ keepAlive: true }));
    return new Promise((resolve, reject) => {
      const req = request({ ...this.#target, method, path, headers, agent, ...(signal ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.end(body);
    });
  }

  async #request(method: Method, path: string, body?: string | Buffer, contentType?: string, signal?: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      const message = await this.#send(method, path, body, contentType, signal);
      response = { statusCode: message.statusCode ?? 0, body: message };
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      // Through ssh, the reason (no such socket, permission denied) is in what ssh printed.
      const said = this.#tunnel ? await this.#tunnel.diagnostics() : '';
      const ssh = said ? ` (ssh: ${said})` : '';
      throw new RustlessError('RUSTLESS_HOST_NOT_FOUND', `cannot reach the rustless gateway at ${describeHost(this.host)}: ${(error as Error).message}${ssh}`, { cause: error });
    }
    if (response.statusCode >= 400) {
      const text = await readText(response.body);
      let code = 'RUSTLESS_INTERNAL';
      let message = text;
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? text;
      } catch {
        // Not our JSON error shape; keep the raw text.
      }
      // The server's code is passed through as is, so callers branch on the same codes.
      throw new RustlessError(code as ErrorCode, message, { details: { status: response.statusCode } });
    }
    return response;
  }

  async #json<T>(method: Method, path: string, body?: string | Buffer, contentType?: string): Promise<T> {
    const response = await this.#request(method, path, body, contentType);
    return JSON.parse(await readText(response.body)) as T;
  }

  async *#ndjson<T>(path: string, signal?: AbortSignal): AsyncIterable<T> {
    const response = await this.#request('GET', path, undefined, undefined, signal);
    const lines = createInterface({ input: response.body });
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        const value = JSON.parse(line) as T | ErrorBody;
        // The gateway's source failed midway: its last line is the error (admin-server.ts).
        if (isErrorBody(value)) throw new RustlessError(value.error.code as ErrorCode, value.error.message);
        yield value;
      }
    } catch (error) {
      if ((error as Error).name === 'AbortError' || error instanceof RustlessError) throw error;
      // The connection broke off: the gateway went away, or the ssh carrying it did.
      const said = this.#tunnel ? await this.#tunnel.diagnostics(500) : '';
      throw new RustlessError('RUSTLESS_CONNECTION_LOST', `the connection to the rustless gateway at ${describeHost(this.host)} broke off: ${(error as Error).message}${said ? ` (ssh: ${said})` : ''}`, { cause: error });
    } finally {
      lines.close();
      // Left before its end (an error line, a consumer that stopped): the connection goes
      // with it, and an error it raises while closing is nobody's business.
      response.body.on('error', () => undefined).destroy();
    }
  }
}

async function readText(body: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function isErrorBody(value: unknown): value is ErrorBody {
  const error = (value as { error?: unknown } | null)?.error;
  return Object.keys(value ?? {}).length === 1 && typeof error === 'object' && error !== null && typeof (error as ErrorBody['error']).code === 'string';
}
