/**
 * The registry's check at every gateway start. SQLite in WAL mode with `synchronous = FULL`
 * (registry.ts) survives a power cut by design; what it cannot survive is a card that lied about
 * a flush, or a file damaged by something else. So the gateway runs `PRAGMA integrity_check`
 * before it trusts the file, and on a failure tries, in order: `REINDEX` (a damaged index is
 * rebuilt from its table), then `VACUUM INTO` a new file (every row SQLite can still read, with
 * the damaged file kept beside it). Only when both fail does it refuse to start, saying how to
 * recover by hand.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { RustlessError } from '../errors.js';

/**
 * Checks (and if need be repairs) the registry at `file`. Resolves with one line saying what was
 * repaired, or undefined when the file was sound or does not exist yet.
 */
export function checkRegistryFile(file: string, now: Date = new Date()): string | undefined {
  if (!existsSync(file)) return undefined;
  const problem = integrityProblem(file);
  if (problem === undefined) return undefined;
  if (tryReindex(file) && integrityProblem(file) === undefined) return `the registry ${file} failed its integrity check (${problem}); its indexes were rebuilt (REINDEX) and it passes now`;
  const aside = `${file}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
  const salvaged = `${file}.salvaged`;
  rmSync(salvaged, { force: true });
  try {
    const db = new Database(file, { fileMustExist: true });
    try {
      db.prepare('VACUUM INTO ?').run(salvaged);
    } finally {
      db.close();
    }
    const left = integrityProblem(salvaged);
    if (left !== undefined) throw new Error(left);
  } catch (error) {
    rmSync(salvaged, { force: true });
    throw new RustlessError(
      'RUSTLESS_REGISTRY_CORRUPT',
      `the registry ${file} is damaged (${problem}) and could not be repaired (${(error as Error).message}). To recover: stop rustless, then ` +
        `\`sqlite3 ${file} .recover | sqlite3 ${file}.recovered\`, \`mv ${file}.recovered ${file}\` and start it again; ` +
        `or move ${file} away to start with no apps (the apps' data and secrets stay; redeploy them)`,
      { cause: error },
    );
  }
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
  renameSync(salvaged, file);
  return `the registry ${file} failed its integrity check (${problem}); what SQLite could read was copied to a new file (VACUUM INTO), the damaged one kept as ${aside}`;
}

/** The first problem `PRAGMA integrity_check` reports, or undefined when it says `ok`. */
function integrityProblem(file: string): string | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    const first = rows[0]?.integrity_check ?? 'no answer';
    return first === 'ok' ? undefined : rows.map((row) => row.integrity_check).slice(0, 3).join('; ');
  } catch (error) {
    return (error as Error).message;
  } finally {
    db?.close();
  }
}

function tryReindex(file: string): boolean {
  try {
    const db = new Database(file, { fileMustExist: true });
    try {
      db.exec('REINDEX');
    } finally {
      db.close();
    }
    return true;
  } catch {
    return false;
  }
}
