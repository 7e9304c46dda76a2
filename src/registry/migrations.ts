/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
 * Append only: a released migration is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE apps (
    name          TEXT PRIMARY KEY,
    created_at    TEXT NOT NULL,
    current_build INTEGER REFERENCES builds(id)
  );
  CREATE TABLE builds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'building', 'succeeded', 'failed')),
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    manifest    TEXT NOT NULL,
    artifact    TEXT,
    error       TEXT
  );
  CREATE INDEX builds_by_app ON builds (app, id);
  CREATE TABLE routes (
    app            TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    build_id       INTEGER NOT NULL,
    methods        TEXT NOT NULL,
    path           TEXT NOT NULL,
    function       TEXT NOT NULL,
    timeout_ms     INTEGER NOT NULL,
    max_body_bytes INTEGER NOT NULL
  );
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // Routes that answer only what no other app's route matches (`fallback = true`).
  `
  ALTER TABLE routes ADD COLUMN fallback INTEGER NOT NULL DEFAULT 0;
  `,
  // The request bodies a route takes (`accept`), a JSON list of media ranges; NULL: JSON only.
  `
  ALTER TABLE routes ADD COLUMN accept TEXT;
  `,
];
