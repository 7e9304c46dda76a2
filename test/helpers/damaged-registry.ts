/**
 * Damages a registry file the way a card that lost or garbled a write can: bytes of one index
 * page changed, so its keys no longer match its table (SQLite's integrity check says
 * `row N missing from index ...`). For tests of the registry's check at start.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

/** Changes page `page` of `file` (1-based) in place. */
export function rewritePage(file: string, page: number, change: (buf: Buffer) => void): void {
  const db = new Database(file, { readonly: true });
  const size = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const fd = openSync(file, 'r+');
  const buf = Buffer.alloc(size);
  readSync(fd, buf, 0, size, (page - 1) * size);
  change(buf);
  writeSync(fd, buf, 0, size, (page - 1) * size);
  closeSync(fd);
}

/** Shifts every lower-case letter in the last 600 bytes of `index`'s root page (where its keys sit): `hello` becomes `ifmmp`. */
export function damageIndex(file: string, index: string): void {
  const db = new Database(file, { readonly: true });
  const { rootpage } = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(index) as { rootpage: number };
  db.close();
  rewritePage(file, rootpage, (buf) => {
    const tail = buf.subarray(buf.length - 600);
    for (let i = 0; i < tail.length; i++) if (tail[i]! >= 0x61 && tail[i]! < 0x7a) tail[i] = tail[i]! + 1;
  });
}
