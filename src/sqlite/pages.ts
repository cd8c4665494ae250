import type Database from 'better-sqlite3';
import { lockPgno, type DatabaseChecksum } from '../ltx/checksum.ts';
import type { Pos } from '../ltx/position.ts';

/**
 * Every page of the database `db` reads (inside its current transaction), in order, through
 * sqlite_dbpage, without the lock page: in a database over 1 GiB the page holding the pending byte
 * is never used by SQLite and LTX files must not contain it.
 */
export function* databasePages(db: Database.Database): Generator<{ pgno: number; data: Buffer }> {
  const lock = lockPgno(Number(db.pragma('page_size', { simple: true })));
  const stmt = db.prepare('SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno');
  for (const row of stmt.iterate() as Iterable<{ pgno: number; data: Buffer }>) if (row.pgno !== lock) yield row;
}

/**
 * The database size SQLite goes by (what page_count answers) with `page1` as page 1 and
 * `pagerPages` pages in the file and the WAL: the size in page 1's header (bytes 28–31) while that
 * header is valid (its change counter, 24–27, equals the version-valid-for number, 92–95, as
 * SQLite leaves them whenever it commits page 1) and not zero, else `pagerPages`; never more.
 */
export function sqlitePageCount(page1: Uint8Array, pagerPages: number): number {
  const v = new DataView(page1.buffer, page1.byteOffset, page1.byteLength);
  const size = v.getUint32(28);
  return size > 0 && v.getUint32(24) === v.getUint32(92) ? Math.min(size, pagerPages) : pagerPages;
}

/**
 * A connection inside BEGIN IMMEDIATE (SQLite's write lock) with the position and checksum state
 * of the database it holds, handed between capture and apply when the node's role changes.
 */
export interface LockedDatabase {
  db: Database.Database;
  pos: Pos;
  /** The database's checksum state at `pos`. */
  state: { pageSize: number; pageCount: number; checksum: DatabaseChecksum };
}
