import Database from 'better-sqlite3';
import { DatabaseChecksum } from '../ltx/checksum.ts';
import { isBusy, retryBusy } from '../sqlite/busy.ts';
import { databasePages } from '../sqlite/pages.ts';
import { beginRead } from '../sqlite/snapshot-read.ts';
import { statement } from '../sqlite/statements.ts';

type Db = Database.Database;


/**
 * The node's two connections to a primary database, which take turns holding a read transaction
 * (the "pin"). While a pin is held SQLite can neither copy frames newer than it back into the
 * database nor restart the WAL, so no frame is overwritten before capture has read it. The new pin
 * is begun before the old one ends, so there is never a moment without one. The same pair takes
 * the write lock for the node-owned WAL reset.
 */
export class CaptureConnections {
  readonly #conns: [Db, Db];
  #pinned = -1;
  #writeLocked = false;

  /**
   * `locked`: a connection inside BEGIN IMMEDIATE (a replica's, being promoted) that becomes the
   * one holding the write lock, so the app is never let in between.
   */
  constructor(dbPath: string, locked?: Db) {
    // busy_timeout 0: taking the write lock is a spin (SQLite's sleeping busy handler loses to a
    // tight-loop writer), and every other call here retries on BUSY itself.
    if (locked) {
      locked.pragma('busy_timeout = 0');
      this.#conns = [locked, new Database(dbPath, { timeout: 0 })];
      this.#writeLocked = true;
    } else {
      this.#conns = [new Database(dbPath, { timeout: 0 }), new Database(dbPath, { timeout: 0 })];
    }
  }

  /** The connection holding the pin (reads there see the pinned snapshot). */
  get pinnedConnection(): Db {
    if (this.#pinned < 0) throw new Error('no read transaction is pinned');
    return this.#conns[this.#pinned]!;
  }

  get #free(): Db {
    return this.#conns[this.#pinned === 0 ? 1 : 0]!;
  }

  /** Switches the database to WAL if it is not (retrying while busy); returns the mode before and after. */
  ensureWal(timeoutMs = 10_000): { was: string; now: string } {
    return retryBusy(timeoutMs, () => {
      const db = this.#free;
      const was = String(db.pragma('journal_mode', { simple: true }));
      if (was === 'wal') return { was, now: was };
      return { was, now: String(db.pragma('journal_mode = WAL', { simple: true })) };
    });
  }

  /**
   * Moves the pin forward: begins a read on the free connection, then ends the old one. While the
   * write lock is held (by the free connection) nothing can commit, so the pin is renewed in place.
   */
  repin(timeoutMs = 5_000): void {
    if (this.#writeLocked) {
      const idx = this.#pinned >= 0 ? this.#pinned : 1;
      const db = this.#conns[idx]!;
      if (this.#pinned >= 0) db.exec('COMMIT');
      retryBusy(timeoutMs, () => beginRead(db));
      this.#pinned = idx;
      return;
    }
    const next = this.#pinned === 0 ? 1 : 0;
    const db = this.#conns[next]!;
    retryBusy(timeoutMs, () => beginRead(db));
    if (this.#pinned >= 0) statement(this.#conns[this.#pinned]!, 'COMMIT').run();
    this.#pinned = next;
  }

  /** Copies back what SQLite allows without waiting (no lock held; shortens a later reset). */
  passiveCheckpoint(): void {
    try {
      this.#free.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      if (!isBusy(err)) throw err;
    }
  }

  /** Spins on BEGIN IMMEDIATE on the free connection; false if it could not get the lock in time. */
  tryLockWrite(timeoutMs: number): boolean {
    const db = this.#free;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        db.exec('BEGIN IMMEDIATE');
        this.#writeLocked = true;
        return true;
      } catch (err) {
        if (!isBusy(err)) throw err;
        if (performance.now() > deadline) return false;
      }
    }
  }

  /** Releases the write lock taken by tryLockWrite. */
  unlockWrite(): void {
    if (!this.#writeLocked) return;
    this.#writeLocked = false;
    this.#free.exec('ROLLBACK');
  }

  /**
   * With the write lock held: ends the pin, checkpoints everything (PASSIVE, retried while the
   * app's own checkpoint is running), and pins again. The new pin takes read-lock 0 because the
   * WAL is fully copied back, so the app's next write restarts the WAL. False if the checkpoint
   * could not finish in time (the WAL is then simply not restarted this round).
   */
  checkpointAndRepin(timeoutMs = 1_000): boolean {
    const db = this.pinnedConnection;
    db.exec('COMMIT');
    const deadline = performance.now() + timeoutMs;
    let done = false;
    for (;;) {
      try {
        const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
        if (r && r.busy === 0 && r.log === r.checkpointed) {
          done = true;
          break;
        }
      } catch (err) {
        if (!isBusy(err)) throw err;
      }
      if (performance.now() > deadline) break;
    }
    retryBusy(timeoutMs, () => beginRead(db));
    return done;
  }

  /** The checksum state of the pinned snapshot, hashed from every page of it. */
  pinnedChecksum(): DatabaseChecksum {
    const db = this.pinnedConnection;
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const pageCount = Number(db.pragma('page_count', { simple: true }));
    const sum = new DatabaseChecksum(pageSize);
    for (const { pgno, data } of databasePages(db)) {
      if (pgno > pageCount) break;
      sum.setPage(pgno, data);
    }
    sum.setPageCount(pageCount);
    return sum;
  }

  /**
   * Hands over the connection holding the write lock (its BEGIN IMMEDIATE still open) and closes
   * the other: a demoted primary keeps the app's writes out without a moment's gap.
   */
  detachWriteLocked(): Db {
    if (!this.#writeLocked) throw new Error('the write lock is not held');
    const locked = this.#free;
    const other = this.#conns.find((c) => c !== locked)!;
    if (other.inTransaction) other.exec('COMMIT');
    other.close();
    this.#writeLocked = false;
    this.#pinned = -1;
    return locked;
  }

  /** Ends every transaction and closes both connections. */
  close(): void {
    this.unlockWrite();
    for (const db of this.#conns) {
      if (!db.open) continue;
      try {
        if (db.inTransaction) db.exec('COMMIT');
      } catch {
        // closing anyway
      }
      db.close();
    }
    this.#pinned = -1;
  }
}
