import fs from 'node:fs';
import { promisify } from 'node:util';
import type Database from 'better-sqlite3';
import { ChecksumMismatchError, LtxFormatError } from '../errors.ts';
import { DatabaseChecksum, formatHex64 } from '../ltx/checksum.ts';
import type { LtxFile } from '../ltx/decoder.ts';
import type { LtxPage } from '../ltx/encoder.ts';
import type { LtxSource } from '../ltx/file-reader.ts';
import { isSnapshot } from '../ltx/header.ts';
import { statement } from './statements.ts';

/** Position and checksum state of a database as read through sqlite_dbpage. */
export interface DatabaseState {
  pageSize: number;
  pageCount: number;
  checksum: DatabaseChecksum;
}

/** Hashes every page of `db` (inside one read transaction, so the view is consistent). */
export function readDatabaseState(db: Database.Database): DatabaseState {
  const read = db.transaction(() => {
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const pageCount = Number(db.pragma('page_count', { simple: true }));
    const checksum = new DatabaseChecksum(pageSize);
    const stmt = db.prepare('SELECT pgno, data FROM sqlite_dbpage WHERE pgno <= ? ORDER BY pgno');
    for (const row of stmt.iterate(pageCount) as Iterable<{ pgno: number; data: Buffer }>) checksum.setPage(row.pgno, row.data);
    checksum.setPageCount(pageCount);
    return { pageSize, pageCount, checksum };
  });
  return read.deferred();
}

/**
 * Prepares an empty database to receive pages of `pageSize`: the size must be set before the
 * first page is written and before WAL mode, or SQLite keeps its default.
 */
export function prepareEmptyReplica(db: Database.Database, pageSize: number): void {
  db.unsafeMode(true);
  if (Number(db.pragma('page_count', { simple: true })) === 0) db.pragma(`page_size = ${pageSize}`);
  db.pragma('journal_mode = WAL');
}

/**
 * Applies one decoded LTX file to `db` in a single write transaction through sqlite_dbpage (see
 * writeLtxPages), committing only if the database then hashes to the file's post-apply checksum.
 * The connection must be in unsafe mode (DEFENSIVE blocks sqlite_dbpage writes).
 */
export function applyLtx(db: Database.Database, file: LtxFile, state: DatabaseState): void {
  db.exec('BEGIN IMMEDIATE');
  commitLtxPages(db, file, state);
}

/**
 * writeLtxPages inside the caller's open write transaction, then COMMIT; on any failure the
 * transaction is rolled back and `state` is left as it was. On success `state` describes the
 * database after the file.
 */
export function commitLtxPages(db: Database.Database, file: LtxSource, state: DatabaseState): void {
  let next: DatabaseChecksum | undefined;
  try {
    next = writeLtxPages(db, file, state);
    statement(db, 'COMMIT').run();
  } catch (err) {
    next?.rollback();
    // SQLite rolls back by itself on some errors (SQLITE_FULL): a ROLLBACK then would only hide the cause.
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
  next.commit();
  state.checksum = next;
  state.pageCount = file.header.commit;
}

/**
 * Writes a file's pages inside the caller's write transaction, in the order SQLite needs: pages
 * ascending but page 1, then the truncation row, then page 1. `state` must equal the file's pre-apply
 * checksum (unless the file is a snapshot); returns the checksum after the file, having checked it
 * against the post-apply checksum, so the caller commits only a verified state. The returned
 * checksum has an open change (it may be `state.checksum` itself): the caller calls commit() on it
 * once the transaction has committed, or rollback() if it does not (commitLtxPages does both).
 */
export function writeLtxPages(db: Database.Database, file: LtxSource, state: DatabaseState): DatabaseChecksum {
  const h = file.header;
  if (h.pageSize !== state.pageSize) throw new LtxFormatError(`LTX page size ${h.pageSize} differs from the database's ${state.pageSize}`);
  if (!isSnapshot(h) && h.preApplyChecksum !== state.checksum.value) {
    throw new ChecksumMismatchError(
      `TXID ${h.minTxid} expects database checksum ${formatHex64(h.preApplyChecksum)} before it, but the database has ${formatHex64(state.checksum.value)}`,
    );
  }
  // Updated in place with an undo record (for a snapshot, built anew): see DatabaseChecksum.begin.
  const next = isSnapshot(h) ? new DatabaseChecksum(h.pageSize) : state.checksum;
  next.begin();
  try {
    function* hashed(): Generator<LtxPage> {
      for (const p of file.pages) {
        next.setPage(p.pgno, p.data, p.hash);
        yield p;
      }
    }
    insertPages(db, hashed(), h.commit, state.pageCount);
    next.setPageCount(h.commit);
    if (next.value !== file.trailer.postApplyChecksum) {
      throw new ChecksumMismatchError(
        `after TXID ${h.maxTxid} the database would hash to ${formatHex64(next.value)}, but the file says ${formatHex64(file.trailer.postApplyChecksum)}`,
      );
    }
  } catch (err) {
    next.rollback();
    throw err;
  }
  return next;
}

/**
 * Writes pages through sqlite_dbpage inside the caller's write transaction, in the order SQLite
 * needs: ascending but page 1, then the truncation to `commit` pages (when the database had
 * `before`), then page 1. Page 1 last: once it (the schema) changes, the next statement reloads
 * the schema, and a new schema read against the old, longer file is reported as corrupt
 * (measured: a shrinking snapshot that drops a table failed with "malformed" the other way round).
 * sqlite_dbpage holds a truncation until the commit and drops it when a page is written after it,
 * so a database shrinks here through page 1's header alone: SQLite goes by that size, while the
 * file keeps its old tail (measured with SQLite 3.53), which capture must not count (see
 * databaseSize in capture/transaction-ltx.ts).
 */
export function insertPages(db: Database.Database, pages: Iterable<{ pgno: number; data: Uint8Array }>, commit: number, before: number): void {
  const insert = statement(db, 'INSERT INTO sqlite_dbpage(pgno, data) VALUES (?, ?)');
  let page1: Uint8Array | undefined;
  for (const p of pages) {
    if (p.pgno === 1) page1 = p.data;
    else insert.run(p.pgno, p.data);
  }
  if (commit < before) insert.run(commit + 1, null);
  if (page1) insert.run(1, page1);
}

/**
 * Writes pages straight into a database file at their offsets, hashing each into `sum`; runs of
 * consecutive pages go out in one writev (a snapshot is one long run), not a write per page.
 */
export function writePagesToFile(fd: number, pages: Iterable<LtxPage>, pageSize: number, sum: DatabaseChecksum): void {
  for (const run of pageRuns(pages, sum)) fs.writevSync(fd, run.pages, (run.first - 1) * pageSize);
}

/** writePagesToFile in the thread pool, so the caller can decode the next pages meanwhile. */
export async function writePagesToFileAsync(fd: number, pages: Iterable<LtxPage>, pageSize: number, sum: DatabaseChecksum): Promise<void> {
  for (const run of pageRuns(pages, sum)) await writev(fd, run.pages, (run.first - 1) * pageSize);
}

const writev = promisify(fs.writev);

/** Hashes each page into `sum` and groups consecutive pages into runs of at most 1024 (IOV_MAX). */
function* pageRuns(pages: Iterable<LtxPage>, sum: DatabaseChecksum): Generator<{ first: number; pages: Uint8Array[] }> {
  let run: Uint8Array[] = [];
  let first = 0;
  for (const p of pages) {
    sum.setPage(p.pgno, p.data, p.hash);
    if (run.length > 0 && (p.pgno !== first + run.length || run.length >= 1024)) {
      yield { first, pages: run };
      run = [];
    }
    if (run.length === 0) first = p.pgno;
    run.push(p.data);
  }
  if (run.length > 0) yield { first, pages: run };
}
