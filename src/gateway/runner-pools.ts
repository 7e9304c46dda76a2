/**
 * One undici connection pool per app, over the app's unix socket. A pool is dropped when its
 * app stops, is replaced or deleted (with nothing in flight), so no request goes out on a
 * keep-alive connection to a runner that is gone; never because one request failed, which
 * would fail the others in flight on it.
 */
import { Pool } from 'undici';

export class RunnerPools {
  readonly #pools = new Map<string, { socketPath: string; pool: Pool }>();

  get(app: string, socketPath: string): Pool {
    const existing = this.#pools.get(app);
    if (existing && existing.socketPath === socketPath) return existing.pool;
    if (existing) void existing.pool.destroy();
    // The origin is a placeholder: every connection goes to socketPath.
    const pool = new Pool('http://runner', { socketPath, connections: 128, keepAliveTimeout: 4_000 });
    this.#pools.set(app, { socketPath, pool });
    return pool;
  }

  drop(app: string): void {
    const existing = this.#pools.get(app);
    this.#pools.delete(app);
    if (existing) void existing.pool.destroy();
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.close().catch(() => pool.destroy())));
  }
}
