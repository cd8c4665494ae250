import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { UnsupportedDatabaseStateError } from '../errors.ts';
import { DatabaseChecksum, formatHex64 } from '../ltx/checksum.ts';
import { encodeLtx, encodeTransaction, type LtxPage, type PageHash } from '../ltx/encoder.ts';
import { FLAG_COMPRESS_LZ4, type LtxHeader } from '../ltx/header.ts';
import { formatPos, type Pos } from '../ltx/position.ts';
import type { SegmentLog } from '../log/segment-log.ts';
import type { CommitEvent, DB } from '../store/db.ts';
import { readWalIndex } from '../wal/wal-index.ts';
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, WalReader, type WalTransaction } from '../wal/wal-reader.ts';
import { CaptureConnections, databasePages } from './capture-connections.ts';

/** Settings of one database's capture. */
export interface CaptureOptions {
  nodeId: bigint;
  /** The lease term this node captures under (see Lease.term). */
  term: number;
  logger: Logger;
  /** Reset the WAL after this many frames (keep it below the app's wal_autocheckpoint, 1000 by default). */
  resetFrames: number;
  compress: boolean;
}

/** A consistent read of a primary database at a known position (see openSnapshotRead). */
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
 * A connection inside BEGIN IMMEDIATE (SQLite's write lock) with the position and checksum state
 * of the database it holds, handed between capture and apply when the node's role changes.
 */
export interface LockedDatabase {
  db: Database.Database;
  pos: Pos;
  /** The database's checksum state at `pos`. */
  state: { pageSize: number; pageCount: number; checksum: DatabaseChecksum };
}

const LOCK_SPIN_MS = 50;
// A pass logs at most about this much WAL, so catching up on a backlog leaves the event loop (the
// API, later the stream) a turn every few hundred commits.
const PASS_BYTES = 1024 * 1024;
const SNAPSHOT_LOCK_MS = 10_000;

/**
 * Captures every transaction committed to one database into its LTX log, following the WAL from
 * outside SQLite with the protocol measured in reference/sqlite-wal-dbpage.md: a pinned read that
 * moves forward by turns, and WAL restarts owned by the node.
 */
export class DatabaseCapture extends EventEmitter {
  readonly name: string;
  readonly #db: DB;
  readonly #o: CaptureOptions;
  readonly #reader: WalReader;
  #conns: CaptureConnections | undefined;
  #checksum: DatabaseChecksum | undefined;
  #pos: Pos = { txid: 0, checksum: 0n };
  #scheduled = false;
  #running = false;
  #closed = false;
  #started = false;
  #paused = false;
  /** Callers of settle() waiting for the next pass that reads the WAL to its end. */
  #settling: Array<(pos: Pos) => void> = [];
  /** Counters for metrics and tests. */
  readonly stats = { commits: 0, snapshots: 0, resets: 0, restarts: 0, lastCommitAt: 0 };

  constructor(db: DB, options: CaptureOptions) {
    super();
    this.#db = db;
    this.#o = options;
    this.name = db.name;
    this.#reader = new WalReader(`${db.path}-wal`);
  }

  get #log(): DB['log'] {
    return this.#db.log;
  }

  /** The last captured transaction and the database checksum after it. */
  get pos(): Pos {
    return { ...this.#pos };
  }

  /** Page size and page count after the last captured transaction. */
  get geometry(): { pageSize: number; pageCount: number } {
    return { pageSize: this.#checksum?.pageSize ?? 0, pageCount: this.#checksum?.pageCount ?? 0 };
  }

  /**
   * Opens the database, switches it to WAL, and finds where capture resumes: with `locked` (a
   * replica being promoted, its write lock held) exactly where the replica's applies left it;
   * otherwise right after the last logged transaction if the WAL still holds it unchanged, else at
   * a new snapshot (which continues the TXIDs, or is dropped when the database has not changed).
   * With `resumeOnly` it takes no snapshot: false when it cannot resume (the caller closes it).
   */
  start(locked?: LockedDatabase, options: { resumeOnly?: boolean } = {}): boolean {
    if (locked) {
      this.#takeOver(locked);
      return true;
    }
    const log = this.#log;
    this.#pos = log.pos;
    this.#conns = new CaptureConnections(this.#db.path);
    const mode = this.#conns.ensureWal();
    if (mode.now !== 'wal') throw new UnsupportedDatabaseStateError(`database ${this.name} could not be switched to WAL mode (journal_mode is ${mode.now})`);
    if (mode.was !== 'wal' && log.pos.txid > 0) {
      this.#o.logger.warn({ db: this.name }, `database ${this.name} was switched to journal_mode=${mode.was} while the node was down; switched it back to WAL`);
    }
    if (!this.#conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw this.#lockedError();
    let resumed: WalTransaction[] | undefined;
    try {
      // Opened now that -shm is sure to exist (a database just switched to WAL gets it on first use).
      this.#db.openFiles();
      this.#reader.seek(undefined);
      const all = this.#reader.poll().transactions;
      resumed = this.#resumeFromWal(walReference(this.#log, this.#pos, this.#o.nodeId), all);
      this.#conns.repin();
    } finally {
      this.#conns.unlockWrite();
    }
    if (resumed) {
      this.#o.logger.info({ db: this.name, pos: formatPos(this.#pos), pending: resumed.length }, 'resuming capture from the WAL');
      this.#logBatch(resumed);
      log.sync();
    } else if (options.resumeOnly) {
      return false;
    } else {
      this.#snapshotPinned(log.pos.txid === 0 ? 'new database' : 'database changed while the node was down');
    }
    this.#started = true;
    return true;
  }

  /**
   * A replica becomes the primary: its applier's connection, inside BEGIN IMMEDIATE, joins capture
   * as the one holding the write lock; what the WAL holds now is what the replica applied (nobody
   * else could write), so the reader skips it and the first commit after is the next TXID.
   */
  #takeOver(locked: LockedDatabase): void {
    this.#pos = locked.pos;
    this.#checksum = locked.state.checksum;
    this.#conns = new CaptureConnections(this.#db.path, locked.db);
    try {
      this.#db.openFiles();
      this.#reader.seek(undefined);
      this.#reader.poll();
      this.#writeWalMark();
      this.#conns.repin();
    } finally {
      this.#conns.unlockWrite();
    }
    this.#started = true;
    this.#o.logger.info({ db: this.name, pos: formatPos(this.#pos) }, 'capturing from the replica\'s position');
  }

  /** Asks for a capture pass soon (coalesces bursts of WAL events into one pass). */
  schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.run();
    });
  }

  /** One capture pass: read new commits, log them, move the pin or reset the WAL, sync when idle. */
  run(): void {
    if (this.#closed || this.#running || !this.#started || this.#paused) return;
    this.#running = true;
    // Those waiting before this pass reads the WAL are settled by it, once it reaches the end.
    const settling = this.#settling;
    this.#settling = [];
    let more = false;
    try {
      const res = this.#poll(PASS_BYTES);
      more = res.more;
      if (res.restarted) this.stats.restarts += res.restarted;
      if (res.gap) {
        this.#snapshot('WAL frames were missed (the WAL restarted more than once between reads)');
        return;
      }
      if (res.more) {
        // Keep the old pin: a new one could begin at read-lock 0 once the app has checkpointed
        // past what this pass read, and then the app may restart the WAL over unread frames.
        this.schedule();
      } else if (res.transactions.length > 0) {
        const frameSize = WAL_FRAME_HEADER_SIZE + (this.#checksum?.pageSize ?? 4096);
        if (this.#reader.framesBytes >= this.#o.resetFrames * frameSize) this.#resetWal();
        else this.#conns!.repin();
      }
    } catch (err) {
      this.#o.logger.error({ db: this.name, err }, 'capture pass failed; retrying');
    } finally {
      this.#running = false;
      if (settling.length > 0) {
        if (more) {
          this.#settling.unshift(...settling);
          this.schedule();
        } else {
          for (const resolve of settling) resolve(this.pos);
        }
      }
    }
  }

  /**
   * Resolves with the position once everything committed before the call is captured (the next
   * pass that reads the WAL to its end): how a write's TXID is learnt without blocking, and
   * concurrent callers share one pass.
   */
  settle(): Promise<Pos> {
    if (this.#closed || !this.#started) return Promise.resolve(this.pos);
    return new Promise((resolve) => {
      this.#settling.push(resolve);
      this.schedule();
    });
  }

  /**
   * Checks the database header for changes capture cannot follow: a switch away from WAL or a
   * new page size. Both are logged and repaired (WAL again, then a new snapshot).
   */
  checkHeader(): void {
    if (this.#closed || !this.#started || this.#running || this.#paused) return;
    const header = Buffer.alloc(100);
    fs.readSync(this.#db.files.db, header, 0, 100, 0);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    const wal = header[18] === 2 && header[19] === 2;
    const expected = this.#checksum?.pageSize;
    if (wal && (expected === undefined || pageSize === expected)) return;
    const what = !wal
      ? `database ${this.name} left WAL mode (an app ran PRAGMA journal_mode=DELETE?); switching it back to WAL`
      : `database ${this.name} changed its page size from ${expected} to ${pageSize}`;
    this.#o.logger.error({ db: this.name }, `${what}; taking a new snapshot`);
    this.#running = true;
    try {
      this.#conns!.ensureWal();
      this.#snapshot(what);
    } catch (err) {
      this.#o.logger.error({ db: this.name, err }, 'could not repair the database mode');
    } finally {
      this.#running = false;
    }
  }

  /**
   * A read transaction on a connection of its own that sees the database exactly at the current
   * position, for sending a snapshot while capture goes on: the WAL is captured to its end under the
   * app's write lock, so nothing can commit between the last logged transaction and the read.
   */
  openSnapshotRead(): SnapshotRead {
    if (!this.#started || this.#closed) throw new UnsupportedDatabaseStateError(`database ${this.name} is not being captured`);
    const conns = this.#conns!;
    const db = new Database(this.#db.path, { readonly: true, timeout: 5000 });
    let gap = false;
    try {
      // While writes are paused the lock is already held (a handoff can need a snapshot).
      if (!this.#paused && !conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw this.#lockedError();
      try {
        const res = this.#poll();
        gap = res.gap;
        if (gap) throw new UnsupportedDatabaseStateError(`database ${this.name}: WAL frames were missed; a new snapshot is being taken`);
        db.exec('BEGIN');
        db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
      } finally {
        if (!this.#paused) conns.unlockWrite();
      }
    } catch (err) {
      db.close();
      if (gap) this.#snapshot('WAL frames were missed (found while preparing a snapshot)');
      throw err;
    }
    const pos = this.pos;
    return {
      pos,
      pageSize: Number(db.pragma('page_size', { simple: true })),
      pageCount: Number(db.pragma('page_count', { simple: true })),
      pages: () => databasePages(db),
      close: () => {
        if (db.inTransaction) db.exec('COMMIT');
        db.close();
      },
    };
  }

  /** Captures everything committed so far, at once (after a script the node ran itself); returns the position. */
  catchUp(): Pos {
    if (!this.#started || this.#closed) throw new UnsupportedDatabaseStateError(`database ${this.name} is not being captured`);
    for (;;) {
      const res = this.#poll(PASS_BYTES);
      if (res.gap) {
        this.#snapshot('WAL frames were missed (found while catching up)');
        break;
      }
      if (!res.more) break;
    }
    return this.pos;
  }

  /**
   * Stops the app's writes: takes SQLite's write lock (waiting up to `timeoutMs` for a running
   * transaction), captures everything committed before it and makes the log durable. Capture
   * passes are suspended until resumeWrites or detach.
   */
  pauseWrites(timeoutMs: number): Pos {
    if (this.#paused) return this.pos;
    if (!this.#started || this.#closed) throw new UnsupportedDatabaseStateError(`database ${this.name} is not being captured`);
    if (!this.#conns!.tryLockWrite(timeoutMs)) throw this.#lockedError();
    this.#paused = true;
    try {
      const res = this.#poll();
      if (res.gap) throw new UnsupportedDatabaseStateError(`database ${this.name}: WAL frames were missed while pausing writes`);
      this.#log.sync();
    } catch (err) {
      this.resumeWrites();
      throw err;
    }
    return this.pos;
  }

  /** Lets the app write again after pauseWrites. */
  resumeWrites(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#conns!.unlockWrite();
    this.schedule();
  }

  /**
   * Ends capture with writes paused and hands over the write-locked connection and the
   * descriptors (closing either would release the lock): the node becomes a replica with the app
   * shut out all along.
   */
  detach(): LockedDatabase {
    if (!this.#paused) throw new Error(`database ${this.name}: pause writes before detaching capture`);
    const db = this.#conns!.detachWriteLocked();
    this.#closed = true;
    this.#reader.close();
    const checksum = this.#checksum!;
    return { db, pos: this.pos, state: { pageSize: checksum.pageSize, pageCount: checksum.pageCount, checksum } };
  }

  /** Captures what is left, makes it durable and closes the connections. */
  close(): void {
    if (this.#closed) return;
    if (this.#started) {
      this.run();
      this.#log.sync();
    }
    this.#closed = true;
    for (const resolve of this.#settling.splice(0)) resolve(this.pos);
    this.#conns?.close();
    this.#reader.close();
  }

  #lockedError(): UnsupportedDatabaseStateError {
    return new UnsupportedDatabaseStateError(
      `database ${this.name} stayed locked for ${SNAPSHOT_LOCK_MS / 1000}s: is an app using PRAGMA locking_mode=EXCLUSIVE? litefleet cannot follow such a database`,
    );
  }

  /**
   * Reads the WAL after the cursor (up to `budget` bytes) and logs what it finds. A failure to log
   * (a full disk) leaves the cursor and the checksum where they were: the frames stay pinned in
   * the WAL, and the next pass tries them again.
   */
  #poll(budget = Infinity): ReturnType<WalReader['poll']> {
    const cursor = this.#reader.cursor;
    const res = this.#reader.poll(budget);
    if (res.gap) return res;
    try {
      this.#logBatch(res.transactions);
    } catch (err) {
      this.#reader.seek(cursor);
      throw err;
    }
    return res;
  }

  /**
   * Turns WAL transactions into the next LTX files, appends them to the log in one write, then
   * moves the position and tells the listeners (the stream, the backup).
   */
  #logBatch(txs: WalTransaction[]): void {
    if (txs.length === 0) return;
    const sum = this.#checksum!;
    this.#log.noteTerm(this.#pos.txid + 1, this.#o.term);
    sum.begin();
    const files: Buffer[] = [];
    const events: CommitEvent[] = [];
    let pos = this.#pos;
    try {
      for (const tx of txs) {
        const pgnos = [...tx.pages.keys()].filter((p) => p <= tx.commit).sort((a, b) => a - b);
        const pages = pgnos.map((pgno) => ({ pgno, data: tx.pages.get(pgno)! }));
        const txid = pos.txid + 1;
        const header = this.#header(txid, txid, tx.commit, pos.checksum, tx.offset, tx.size, tx.salt1, tx.salt2);
        const onPage = (p: LtxPage, hash?: PageHash) => sum.setPage(p.pgno, p.data, hash);
        const postApply = () => {
          sum.setPageCount(tx.commit);
          return sum.value;
        };
        let ltx: Buffer;
        if (this.#o.compress) {
          for (const p of pages) onPage(p);
          ltx = encodeLtx(header, pages, postApply());
        } else {
          ltx = encodeTransaction(header, pages, onPage, postApply);
        }
        files.push(ltx);
        events.push({ name: this.name, txid, checksum: sum.value, pre: pos, pageSize: header.pageSize, timestamp: header.timestamp, snapshot: false, ltx });
        pos = { txid, checksum: sum.value };
      }
      this.#log.append(files);
    } catch (err) {
      sum.rollback();
      throw err;
    }
    sum.commit();
    this.#pos = pos;
    this.stats.commits += events.length;
    this.stats.lastCommitAt = events[events.length - 1]!.timestamp;
    for (const ev of events) this.emit('commit', ev);
  }

  #header(minTxid: number, maxTxid: number, commit: number, pre: bigint, walOffset: number, walSize: number, salt1: number, salt2: number): LtxHeader {
    return {
      flags: this.#o.compress ? FLAG_COMPRESS_LZ4 : 0,
      pageSize: this.#checksum!.pageSize,
      commit,
      minTxid,
      maxTxid,
      timestamp: Date.now(),
      preApplyChecksum: pre,
      walOffset,
      walSize,
      walSalt1: walSize ? salt1 : 0,
      walSalt2: walSize ? salt2 : 0,
      nodeId: this.#o.nodeId,
    };
  }

  /**
   * Node-owned WAL restart: with the app's write lock held briefly, capture the tail, checkpoint
   * everything and pin at read-lock 0 so the app's next write starts the WAL over. The log need
   * not be durable first: if power fails before it is, recovery finds it behind the database and
   * takes a new snapshot, so its fsyncs run in the background instead of under the app's lock.
   */
  #resetWal(): void {
    const conns = this.#conns!;
    // Far behind a fast writer, the tail would be read under the app's write lock for as long as
    // it takes to log it; catch up first (the WAL grows meanwhile) and reset once close.
    const frameSize = WAL_FRAME_HEADER_SIZE + this.#checksum!.pageSize;
    const mxFrame = readWalIndex(this.#db.files.shm)?.mxFrame ?? 0;
    if (mxFrame * frameSize - this.#reader.framesBytes > this.#o.resetFrames * frameSize) {
      conns.repin();
      return;
    }
    conns.passiveCheckpoint();
    if (!conns.tryLockWrite(LOCK_SPIN_MS)) {
      conns.repin();
      return;
    }
    try {
      const res = this.#poll();
      if (res.gap) throw new Error('WAL restarted while the write lock was held');
      if (conns.checkpointAndRepin()) this.stats.resets++;
    } finally {
      conns.unlockWrite();
    }
  }

  /** Takes the write lock, consumes the WAL, pins, releases, then snapshots at the pin. */
  #snapshot(reason: string): void {
    const conns = this.#conns!;
    if (!conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw this.#lockedError();
    try {
      this.#reader.poll();
      conns.repin();
    } finally {
      conns.unlockWrite();
    }
    this.#snapshotPinned(reason);
  }

  /**
   * Hashes the pinned state: when it differs from the current position (a new database, or one
   * changed behind capture's back), it becomes the next TXID as a snapshot, and the log starts
   * over from it (a replica behind it needs the database itself, which the stream sends); when it
   * hashes to the position, nothing changed and capture carries on.
   */
  #snapshotPinned(reason: string): void {
    const conns = this.#conns!;
    const { pageSize, pageCount } = conns.pinnedGeometry();
    const sum = new DatabaseChecksum(pageSize);
    for (const { pgno, data } of conns.pinnedPages()) {
      if (pgno > pageCount) break;
      sum.setPage(pgno, data);
    }
    sum.setPageCount(pageCount);
    this.#checksum = sum;
    if (sum.value === this.#pos.checksum) {
      this.#o.logger.info({ db: this.name, pos: formatPos(this.#pos) }, 'database unchanged since the last logged transaction');
      this.#writeWalMark();
      return;
    }
    const pre = this.#pos;
    const txid = pre.txid + 1;
    this.#log.reset({ txid, checksum: sum.value });
    this.#log.noteTerm(txid, this.#o.term);
    this.#pos = { txid, checksum: sum.value };
    this.#writeWalMark();
    this.stats.commits++;
    this.stats.snapshots++;
    this.stats.lastCommitAt = Date.now();
    this.#o.logger.info({ db: this.name, txid, pages: pageCount, checksum: formatHex64(sum.value) }, `snapshot taken: ${reason}`);
    this.emit('commit', { name: this.name, txid, checksum: sum.value, pre, pageSize, timestamp: this.stats.lastCommitAt, snapshot: true } satisfies CommitEvent);
  }

  /**
   * Records where in the WAL the current position ends (`<log dir>/wal-mark`), for a restart to
   * resume from when the log's newest transaction was not captured here (a replica promoted, or a
   * snapshot, since): the WAL then still tells what the app committed after it.
   */
  #writeWalMark(): void {
    const c = this.#reader.cursor;
    const sum = this.#checksum!;
    if (!c) return;
    const mark: WalMark = { txid: this.#pos.txid, checksum: formatHex64(this.#pos.checksum), salt1: c.salt1, salt2: c.salt2, end: c.offset, pageSize: sum.pageSize, pageCount: sum.pageCount };
    const file = path.join(this.#log.dir, 'wal-mark');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(mark));
    fs.renameSync(`${file}.tmp`, file);
  }

  /**
   * Called at start with the write lock held and every WAL transaction read. If the WAL still holds
   * the position's end unchanged (see walReference), and nothing after it was copied back into
   * the database file, the state at that point is rebuilt from the file plus the frames before it;
   * when its checksum matches the log, capture resumes there and returns the transactions after it.
   */
  #resumeFromWal(ref: WalMark | undefined, txs: WalTransaction[]): WalTransaction[] | undefined {
    if (!ref || this.#pos.txid === 0) return undefined;
    const backfill = readWalIndex(this.#db.files.shm)?.backfill;
    if (backfill === undefined) return undefined;
    const idx = txs.findIndex((t) => t.salt1 === ref.salt1 && t.salt2 === ref.salt2 && t.offset + t.size === ref.end);
    if (idx >= 0 && backfill * (WAL_FRAME_HEADER_SIZE + ref.pageSize) <= ref.end - WAL_HEADER_SIZE) {
      const upto = txs.slice(0, idx + 1);
      const overlay = new Map<number, Uint8Array>();
      for (const t of upto) for (const [p, d] of t.pages) overlay.set(p, d);
      if (this.#adoptIfAtPosition(ref.pageSize, upto[upto.length - 1]!.commit, overlay)) return txs.slice(idx + 1);
    }
    // The WAL started over after the position (capture's own reset checkpointed everything first,
    // or nothing had been written since): then the file alone is the position, untouched since,
    // and every transaction in the WAL came after it.
    if (backfill === 0 && this.#adoptIfAtPosition(ref.pageSize, Math.floor(fs.fstatSync(this.#db.files.db).size / ref.pageSize), new Map())) return txs;
    return undefined;
  }

  /** Hashes the database file with `overlay` on top; adopts that checksum state when it is the position's. */
  #adoptIfAtPosition(pageSize: number, commit: number, overlay: Map<number, Uint8Array>): boolean {
    const sum = new DatabaseChecksum(pageSize);
    const page = Buffer.alloc(pageSize);
    for (let p = 1; p <= commit; p++) {
      const o = overlay.get(p);
      if (o) {
        sum.setPage(p, o);
      } else {
        page.fill(0);
        fs.readSync(this.#db.files.db, page, 0, pageSize, (p - 1) * pageSize);
        sum.setPage(p, page);
      }
    }
    sum.setPageCount(commit);
    if (sum.value !== this.#pos.checksum) return false;
    this.#checksum = sum;
    return true;
  }
}

/**
 * Where in the WAL the log's position `pos` ends, if this node captured it: the newest
 * transaction's header, or the mark capture leaves when it starts from a replica's position or a
 * snapshot. A node that has one may have commits in its WAL it never logged before it died.
 */
export function walReference(log: SegmentLog, pos: Pos, nodeId: bigint): WalMark | undefined {
  const last = log.headerAt(pos.txid);
  if (last && last.walSize > 0 && last.nodeId === nodeId) {
    return { txid: pos.txid, checksum: formatHex64(pos.checksum), salt1: last.walSalt1, salt2: last.walSalt2, end: last.walOffset + last.walSize, pageSize: last.pageSize, pageCount: last.commit };
  }
  try {
    const mark = JSON.parse(fs.readFileSync(path.join(log.dir, 'wal-mark'), 'utf8')) as WalMark;
    return mark.txid === pos.txid && mark.checksum === formatHex64(pos.checksum) ? mark : undefined;
  } catch {
    return undefined;
  }
}

/** Where in the WAL a logged position ends (see walReference). */
interface WalMark {
  txid: number;
  checksum: string;
  salt1: number;
  salt2: number;
  /** Byte offset just past the position's last commit frame. */
  end: number;
  pageSize: number;
  pageCount: number;
}
