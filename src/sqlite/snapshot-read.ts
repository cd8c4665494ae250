import Database from 'better-sqlite3';
import type { Pos } from '../ltx/position.ts';
import { databasePages } from './pages.ts';
import { statement } from './statements.ts';

/** A consistent read of a database at a known position (see openSnapshotRead of capture and apply). */
export interface SnapshotRead {
  pos: Pos;
  pageSize: number;
  pageCount: number;
  /** Every page in order, through sqlite_dbpage. */
  pages(): Iterable<{ pgno: number; data: Buffer }>;
  /** Ends the read transaction and closes its connection. */
  close(): void;
}

/**
 * Begins a read transaction on `db` that holds its snapshot from now on: BEGIN alone takes none
 * until the first read, so one is made at once.
 */
export function beginRead(db: Database.Database): void {
  statement(db, 'BEGIN').run();
  try {
    statement(db, 'SELECT count(*) FROM sqlite_schema').pluck().get();
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

/** The read transaction `db` holds (see beginRead) as the snapshot at `pos`; closing it closes `db`. */
function snapshotReadOf(db: Database.Database, pos: Pos, pageSize: number, pageCount: number): SnapshotRead {
  return {
    pos,
    pageSize,
    pageCount,
    pages: () => databasePages(db),
    close: () => {
      if (db.inTransaction) db.exec('COMMIT');
      db.close();
    },
  };
}

/**
 * Opens a read-only connection to the database at `path` and has `within` begin its read (after
 * whatever it must do first, such as capturing the WAL's tail under the write lock) and say which
 * position and geometry the read sees; the connection is closed if `within` throws.
 */
export function openSnapshotRead(path: string, within: (begin: () => void) => { pos: Pos; pageSize: number; pageCount: number }): SnapshotRead {
  const db = new Database(path, { readonly: true, timeout: 5000 });
  try {
    const at = within(() => beginRead(db));
    return snapshotReadOf(db, at.pos, at.pageSize, at.pageCount);
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
    throw err;
  }
}
