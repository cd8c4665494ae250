import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { insertPages } from '../sqlite/apply-ltx.ts';
import { databasePages } from '../sqlite/pages.ts';
import type { DatabaseCapture } from '../capture/database-capture.ts';
import { fsyncDir } from '../log/fsync.ts';
import { lockPgno } from '../ltx/checksum.ts';
import type { Pos } from '../ltx/position.ts';
import { ConflictError, InvalidRequestError, LitefleetError } from '../errors.ts';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** A consistent read of a database: its geometry and its pages in order (the lock page as zeros). */
export interface DatabaseRead {
  pageSize: number;
  pageCount: number;
  txid: number;
  pages(): Iterable<Uint8Array>;
  close(): void;
}

/** Pages in order as a file holds them: the never-used lock page (which reads skip) as zeros, so offsets hold. */
export function* filePages(pages: Iterable<{ pgno: number; data: Uint8Array }>, pageSize: number, pageCount: number): Generator<Uint8Array> {
  const lock = lockPgno(pageSize);
  for (const { pgno, data } of pages) {
    if (pgno > pageCount) break;
    if (pgno === lock + 1) yield Buffer.alloc(pageSize);
    yield data;
  }
}

/** Checks that `file` is a sound SQLite database (magic, then integrity_check); its page size and count. */
export function checkDatabaseFile(file: string): { pageSize: number; pageCount: number } {
  const head = Buffer.alloc(16);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (!head.equals(SQLITE_MAGIC)) throw new InvalidRequestError('the file is not an SQLite database (no "SQLite format 3" header); nothing was changed');
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new InvalidRequestError(`SQLite cannot open the file (${(err as Error).message}); nothing was changed`);
  }
  try {
    const ok = db.pragma('integrity_check', { simple: true });
    if (ok !== 'ok') throw new InvalidRequestError(`the file fails integrity_check (${String(ok)}); nothing was changed`);
    return { pageSize: Number(db.pragma('page_size', { simple: true })), pageCount: Number(db.pragma('page_count', { simple: true })) };
  } catch (err) {
    if (err instanceof LitefleetError) throw err;
    throw new InvalidRequestError(`the file is not a sound SQLite database (${(err as Error).message}); nothing was changed`);
  } finally {
    db.close();
  }
}

/**
 * Replaces the live database with the checked file `src` as one transaction on the primary: its
 * pages go in through sqlite_dbpage inside one write transaction (the truncation, then page 1 kept
 * in WAL mode, last), so capture logs it as the next TXID, replicas apply it like any other, and
 * the state before it stays restorable from the log and the backup.
 */
export function importIntoDatabase(dbPath: string, src: string, capture: DatabaseCapture): Pos {
  const { pageSize } = checkDatabaseFile(src);
  const from = new Database(src, { readonly: true });
  const live = new Database(dbPath, { timeout: 5000 });
  live.unsafeMode(true);
  try {
    const livePageSize = Number(live.pragma('page_size', { simple: true }));
    if (livePageSize !== pageSize) throw new InvalidRequestError(`the file's page size is ${pageSize}, the database's ${livePageSize}; run "PRAGMA page_size=${livePageSize}; VACUUM;" on the file first; nothing was changed`);
    from.exec('BEGIN');
    const count = Number(from.pragma('page_count', { simple: true }));
    live.exec('BEGIN IMMEDIATE');
    try {
      const before = Number(live.pragma('page_count', { simple: true }));
      function* pages(): Generator<{ pgno: number; data: Uint8Array }> {
        for (const { pgno, data } of databasePages(from)) {
          if (pgno > count) break;
          if (pgno !== 1) {
            yield { pgno, data };
            continue;
          }
          // The live database stays in WAL mode whatever the file's header says.
          const page1 = Buffer.from(data);
          page1[18] = 2;
          page1[19] = 2;
          yield { pgno, data: page1 };
        }
      }
      insertPages(live, pages(), count, before);
      live.exec('COMMIT');
    } catch (err) {
      if (live.inTransaction) live.exec('ROLLBACK');
      throw err;
    }
  } finally {
    if (from.inTransaction) from.exec('COMMIT');
    from.close();
    live.close();
  }
  return capture.catchUp();
}

/** Puts the checked file `src` in place as a new database `name` in `dir` (fsync, rename), for capture to find. */
export function importNewDatabase(dir: string, name: string, src: string): void {
  checkDatabaseFile(src);
  const target = path.join(dir, name);
  if (fs.existsSync(target)) throw new ConflictError(`${name} exists in ${dir} but is not being captured yet; try again in a moment`);
  const fd = fs.openSync(src, 'r');
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(src, target);
  fsyncDir(dir);
}
