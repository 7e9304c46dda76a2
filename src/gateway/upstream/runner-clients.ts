/**
 * One frame connection per app, to the app's runner socket. A connection that closes (the
 * runner stopped or died) is forgotten and the next request opens a new one; dropping an app's
 * connection lets its pending requests finish first, so no request fails because of another.
 */
import { RunnerConnection } from './runner-connection.js';

export class RunnerClients {
  readonly #connections = new Map<string, RunnerConnection>();

  get(app: string, socketPath: string): RunnerConnection {
    const existing = this.#connections.get(app);
    if (existing !== undefined && existing.usable && existing.socketPath === socketPath) return existing;
    existing?.end();
    const connection = new RunnerConnection(socketPath, (closed) => {
      if (this.#connections.get(app) === closed) this.#connections.delete(app);
    });
    this.#connections.set(app, connection);
    return connection;
  }

  /** Ends the app's connection once its pending requests are answered (the app was stopped or replaced). */
  drop(app: string): void {
    const existing = this.#connections.get(app);
    this.#connections.delete(app);
    existing?.end();
  }

  async close(): Promise<void> {
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    for (const connection of connections) connection.end();
    await Promise.all(connections.map((connection) => connection.closed()));
  }
}
