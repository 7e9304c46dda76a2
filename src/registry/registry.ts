/**
 * The registry: apps, their builds and their live routes, in one SQLite file.
 *
 * Driver: better-sqlite3. The gateway is one process and every query is a few microseconds,
 * so a synchronous driver keeps transactions simple (activating a build swaps an app's routes
 * atomically) with no callback or promise plumbing; the async `sqlite`/`sqlite3` pair would
 * add a thread hop per query and buy nothing here.
 */
import Database from 'better-sqlite3';
import type { AppManifest } from '../manifest/manifest.js';
import type { RouteTarget } from '../router/route-table.js';
import { RustlessError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';

export type BuildStatus = 'queued' | 'building' | 'succeeded' | 'failed';

export interface BuildRecord {
  id: number;
  app: string;
  status: BuildStatus;
  createdAt: string;
  finishedAt: string | null;
  manifest: AppManifest;
  /** Backend artifact (JSON), set once the build succeeded. */
  artifact: unknown;
  error: string | null;
}

export interface AppRecord {
  name: string;
  createdAt: string;
  currentBuild: number | null;
}

interface BuildRow {
  id: number;
  app: string;
  status: BuildStatus;
  created_at: string;
  finished_at: string | null;
  manifest: string;
  artifact: string | null;
  error: string | null;
}

export class Registry {
  readonly #db: Database.Database;

  /**
   * `readonly`: for a process beside the gateway (a test reading what it deployed), which must neither migrate
   * nor write the gateway's live file; it refuses a file of another schema version instead.
   */
  constructor(file: string, { readonly = false }: { readonly?: boolean } = {}) {
    this.#db = new Database(file, { readonly, fileMustExist: readonly });
    if (readonly) {
      const version = this.#db.pragma('user_version', { simple: true }) as number;
      if (version !== MIGRATIONS.length) {
        this.#db.close();
        throw new RustlessError('RUSTLESS_BACKEND_FAILED', `${file} is at schema version ${version}, this rustless reads version ${MIGRATIONS.length}: run the rustless that the gateway runs`);
      }
      return;
    }
    this.#db.pragma('journal_mode = WAL');
    // A commit is on the disk when it returns (the WAL is fsynced at each one): a deploy answered
    // `live` survives a power cut. WAL's default, NORMAL, may lose the last commits. Commits are
    // few (deploys, rollbacks, removals), so this costs the SD card nothing in steady state.
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('foreign_keys = ON');
    this.#migrate();
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    for (let i = version; i < MIGRATIONS.length; i++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[i]!);
        this.#db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  listApps(): AppRecord[] {
    return this.#db.prepare('SELECT name, created_at, current_build FROM apps ORDER BY name').all().map(toApp);
  }

  getApp(name: string): AppRecord | undefined {
    const row = this.#db.prepare('SELECT name, created_at, current_build FROM apps WHERE name = ?').get(name);
    return row ? toApp(row) : undefined;
  }

  requireApp(name: string): AppRecord {
    const app = this.getApp(name);
    if (!app) throw new RustlessError('RUSTLESS_APP_NOT_FOUND', `no app named ${JSON.stringify(name)}`);
    return app;
  }

  /** Records a new build of `manifest.name`, creating the app on its first upload. */
  createBuild(manifest: AppManifest): BuildRecord {
    const now = new Date().toISOString();
    const id = this.#db.transaction(() => {
      this.#db.prepare('INSERT OR IGNORE INTO apps (name, created_at) VALUES (?, ?)').run(manifest.name, now);
      return this.#db
        .prepare("INSERT INTO builds (app, status, created_at, manifest) VALUES (?, 'queued', ?, ?)")
        .run(manifest.name, now, JSON.stringify(manifest)).lastInsertRowid;
    })();
    return this.requireBuild(Number(id));
  }

  getBuild(id: number): BuildRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM builds WHERE id = ?').get(id) as BuildRow | undefined;
    return row ? toBuild(row) : undefined;
  }

  requireBuild(id: number): BuildRecord {
    const build = this.getBuild(id);
    if (!build) throw new RustlessError('RUSTLESS_BUILD_NOT_FOUND', `no build with id ${id}`);
    return build;
  }

  listBuilds(app: string): BuildRecord[] {
    return (this.#db.prepare('SELECT * FROM builds WHERE app = ? ORDER BY id DESC').all(app) as BuildRow[]).map(toBuild);
  }

  markBuilding(id: number): void {
    this.#db.prepare("UPDATE builds SET status = 'building' WHERE id = ?").run(id);
  }

  markFailed(id: number, error: string): void {
    this.#db.prepare("UPDATE builds SET status = 'failed', finished_at = ?, error = ? WHERE id = ?").run(new Date().toISOString(), error, id);
  }

  markSucceeded(id: number, artifact: unknown): void {
    this.#db
      .prepare("UPDATE builds SET status = 'succeeded', finished_at = ?, artifact = ? WHERE id = ?")
      .run(new Date().toISOString(), JSON.stringify(artifact), id);
  }

  /** Builds left unfinished by a gateway that stopped mid-build; returns them as `app #id`. */
  failUnfinishedBuilds(reason: string): string[] {
    const rows = this.#db
      .prepare("UPDATE builds SET status = 'failed', finished_at = ?, error = ? WHERE status IN ('queued', 'building') RETURNING app, id")
      .all(new Date().toISOString(), reason) as Array<{ app: string; id: number }>;
    return rows.map((row) => `${row.app} #${row.id}`);
  }

  /** Makes `build` the app's serving version and swaps its routes, in one transaction. */
  activateBuild(build: BuildRecord): void {
    this.#db.transaction(() => {
      this.#db.prepare('UPDATE apps SET current_build = ? WHERE name = ?').run(build.id, build.app);
      this.#db.prepare('DELETE FROM routes WHERE app = ?').run(build.app);
      const insert = this.#db.prepare(
        'INSERT INTO routes (app, build_id, methods, path, function, timeout_ms, max_body_bytes, fallback, accept) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const route of build.manifest.routes) {
        insert.run(build.app, build.id, route.methods.join(','), route.path, route.function, route.timeoutMs, build.manifest.maxBodyBytes, route.fallback ? 1 : 0, route.accept ? JSON.stringify(route.accept) : null);
      }
    })();
  }

  /** The routes of every app's serving build. */
  liveRoutes(): RouteTarget[] {
    const rows = this.#db.prepare('SELECT * FROM routes ORDER BY app, rowid').all() as Array<{
      app: string;
      methods: string;
      path: string;
      function: string;
      timeout_ms: number;
      max_body_bytes: number;
      fallback: number;
      accept: string | null;
    }>;
    return rows.map((row) => ({
      app: row.app,
      function: row.function,
      path: row.path,
      methods: row.methods.split(','),
      timeoutMs: row.timeout_ms,
      maxBodyBytes: row.max_body_bytes,
      fallback: row.fallback === 1,
      ...(row.accept === null ? {} : { accept: JSON.parse(row.accept) as string[] }),
    }));
  }

  deleteApp(name: string): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM routes WHERE app = ?').run(name);
      this.#db.prepare('DELETE FROM apps WHERE name = ?').run(name);
      this.#db.prepare('DELETE FROM builds WHERE app = ?').run(name);
    })();
  }

  getSetting(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.#db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  close(): void {
    this.#db.close();
  }
}

function toApp(row: unknown): AppRecord {
  const r = row as { name: string; created_at: string; current_build: number | null };
  return { name: r.name, createdAt: r.created_at, currentBuild: r.current_build };
}

function toBuild(row: BuildRow): BuildRecord {
  return {
    id: row.id,
    app: row.app,
    status: row.status,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    // Builds recorded before [env], secrets and [storage] existed lack them.
    manifest: { env: {}, secrets: [], storage: { data: false }, ...(JSON.parse(row.manifest) as Partial<AppManifest>) } as AppManifest,
    artifact: row.artifact === null ? null : (JSON.parse(row.artifact) as unknown),
    error: row.error,
  };
}
