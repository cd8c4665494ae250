import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { UnsupportedDatabaseStateError } from '../errors.ts';
import { formatHex64, type DatabaseChecksum } from '../ltx/checksum.ts';
import { formatPos, type Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import type { DatabaseHandle } from '../sqlite/database-handle.ts';
import { readWalIndex, type WalIndexState } from '../wal/wal-index.ts';
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, WalReader, type WalTransaction } from '../wal/wal-reader.ts';
import type { LockedDatabase } from '../sqlite/pages.ts';
import { openSnapshotRead, type SnapshotRead } from '../sqlite/snapshot-read.ts';
import { CaptureConnections } from './capture-connections.ts';
import { lockedError, modeChange, switchToWal } from './database-mode.ts';
import { transactionsLtx } from './transaction-ltx.ts';
import { resetWal } from './wal-reset.ts';
import { resumeFromWal, walReference, writeWalMark } from './wal-resume.ts';

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

// A pass logs at most about this much WAL, so catching up on a backlog leaves the event loop (the
// API, later the stream) a turn every few hundred commits.
const PASS_BYTES = 1024 * 1024;
// While commits flow the pin moves on at most this often: a pin behind what capture has read only
// holds the app's checkpoints back a little, and moving it (a read transaction ended and one
// begun) at every commit was a tenth of the primary's time at 1000 commits a second. An idle pass
// (the store's poll) brings it up to date.
const REPIN_MS = 20;
const SNAPSHOT_LOCK_MS = 10_000;
// How long the WAL index may say SQLite committed frames the reader cannot read before capture
// gives up following the WAL and starts over from a snapshot (a pass runs every poll interval,
// so a commit merely racing the check is read long before).
const STALL_MS = 1_000;

/**
 * Captures every transaction committed to one database into its LTX log, following the WAL from
 * outside SQLite with the protocol measured in reference/sqlite-wal-dbpage.md: a pinned read that
 * moves forward by turns, and WAL restarts owned by the node.
 */
export class DatabaseCapture extends EventEmitter {
  readonly name: string;
  readonly #db: DatabaseHandle;
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
  /** When the pin last moved, and whether capture has read past it since. */
  #pinnedAt = -Infinity;
  #pinBehind = false;
  /** Since when idle passes have found the WAL index ahead of what the reader can read. */
  #stalledSince: number | undefined;
  /** Callers of settle() waiting for the next pass that reads the WAL to its end. */
  #settling: Array<(pos: Pos) => void> = [];
  /** Counters for metrics and tests. */
  readonly stats = { commits: 0, snapshots: 0, resets: 0, restarts: 0, lastCommitAt: 0 };

  constructor(db: DatabaseHandle, options: CaptureOptions) {
    super();
    this.#db = db;
    this.#o = options;
    this.name = db.name;
    this.#reader = new WalReader(`${db.path}-wal`);
  }

  get #log(): DatabaseHandle['log'] {
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
    switchToWal(this.#conns, this.name, log.pos.txid > 0, this.#o.logger);
    if (!this.#conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw lockedError(this.name, SNAPSHOT_LOCK_MS);
    let resumed: WalTransaction[] | undefined;
    try {
      // Opened now that -shm is sure to exist (a database just switched to WAL gets it on first use).
      this.#db.openFiles();
      this.#reader.seek(undefined);
      const all = this.#reader.poll().transactions;
      const resume = resumeFromWal(walReference(this.#log, this.#pos, this.#o.nodeId), all, this.#pos, this.#db.files);
      if (resume) this.#checksum = resume.checksum;
      resumed = resume?.pending;
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
      // Past what the WAL holds, a slice at a time: a replica's WAL can hold many MB its readers
      // kept from being checkpointed, none of which is needed (read whole, it was held at once).
      while (this.#reader.poll(PASS_BYTES).more);
      this.#writeWalMark();
      this.#conns.repin();
    } finally {
      this.#conns.unlockWrite();
    }
    this.#started = true;
    this.#o.logger.info({ db: this.name, pos: formatPos(this.#pos) }, 'capturing from the replica\'s position');
    // A replica promoted in the middle of a reset (its history after the fork set aside, the
    // primary's snapshot not yet here) holds a database its log does not end at: that database
    // starts the log over, after the highest TXID this node has had, so TXIDs never go back.
    if (this.#log.checksumAt(this.#pos.txid) !== this.#pos.checksum) this.#startOver('promoted while resetting from the last primary, whose snapshot never came');
    else this.#log.truncateAfter(this.#pos);
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
      if (res.transactions.length === 0 && !res.more && this.#stalled()) return;
      if (res.more) {
        // Keep the old pin: a new one could begin at read-lock 0 once the app has checkpointed
        // past what this pass read, and then the app may restart the WAL over unread frames.
        this.schedule();
      } else if (res.transactions.length > 0 || this.#pinBehind) {
        const frameSize = WAL_FRAME_HEADER_SIZE + (this.#checksum?.pageSize ?? 4096);
        const now = performance.now();
        this.#pinBehind = false;
        if (this.#reader.framesBytes >= this.#o.resetFrames * frameSize) this.#resetWal();
        else if (res.transactions.length === 0 || now - this.#pinnedAt >= REPIN_MS) this.#conns!.repin();
        else this.#pinBehind = true;
        if (!this.#pinBehind) this.#pinnedAt = now;
      }
      this.#db.clearProblem('capture');
    } catch (err) {
      this.#db.reportProblem('capture', err);
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
   * True when capture had to start over because SQLite's WAL index has said for STALL_MS that
   * the WAL holds committed frames past the reader's cursor, in its generation, which the reader
   * cannot read: their checksum chain does not continue from the cursor (a commit frame the
   * reader took that SQLite then dropped, or frames changed on disk). Reading on would never get
   * past them, and the app's commits would go unlogged: under the app's write lock the reader
   * moves to the index's end, and a snapshot logs the database as it is there.
   */
  #stalled(): boolean {
    const cursor = this.#reader.cursor;
    const frameSize = WAL_FRAME_HEADER_SIZE + (this.#checksum?.pageSize ?? 0);
    const ahead = (index: WalIndexState | undefined): index is WalIndexState =>
      cursor !== undefined && index !== undefined && index.salt1 === cursor.salt1 && index.salt2 === cursor.salt2 && WAL_HEADER_SIZE + index.mxFrame * frameSize > cursor.offset;
    const seen = cursor && readWalIndex(this.#db.files.shm);
    if (!ahead(seen)) {
      this.#stalledSince = undefined;
      return false;
    }
    const now = performance.now();
    this.#stalledSince ??= now;
    if (now - this.#stalledSince < STALL_MS) return false;
    this.#stalledSince = undefined;
    const conns = this.#conns!;
    if (!conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw lockedError(this.name, SNAPSHOT_LOCK_MS);
    let index: WalIndexState | undefined;
    let gap = false;
    try {
      // Under the lock nothing commits: a last read settles whether the frames are unreadable.
      const res = this.#poll();
      gap = res.gap;
      index = readWalIndex(this.#db.files.shm);
      if (gap || res.transactions.length > 0 || !ahead(index)) return gap;
      this.#o.logger.error({ db: this.name, frames: index.mxFrame, read: (cursor!.offset - WAL_HEADER_SIZE) / frameSize }, 'the WAL index counts committed frames the WAL cannot be read to (a broken checksum chain); reading on from the end of the index');
      this.#reader.seek({ ...cursor!, offset: WAL_HEADER_SIZE + index.mxFrame * frameSize, s0: index.s0, s1: index.s1 });
      conns.repin();
    } finally {
      conns.unlockWrite();
      if (gap) this.#snapshot('WAL frames were missed (the WAL restarted more than once between reads)');
    }
    this.#snapshotPinned(`WAL frames ${(cursor!.offset - WAL_HEADER_SIZE) / frameSize + 1}-${index.mxFrame} could not be read`);
    return true;
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
   * Checks the database header for changes capture cannot follow (see modeChange). They are
   * logged and repaired (WAL again, then a new snapshot).
   */
  checkHeader(): void {
    if (this.#closed || !this.#started || this.#running || this.#paused) return;
    const what = modeChange(this.name, this.#db.files.db, this.#checksum?.pageSize);
    if (!what) return;
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
    let gap = false;
    try {
      return openSnapshotRead(this.#db.path, (begin) => {
        // While writes are paused the lock is already held (a handoff can need a snapshot).
        if (!this.#paused && !conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw lockedError(this.name, SNAPSHOT_LOCK_MS);
        try {
          gap = this.#poll().gap;
          if (gap) throw new UnsupportedDatabaseStateError(`database ${this.name}: WAL frames were missed; a new snapshot is being taken`);
          begin();
        } finally {
          if (!this.#paused) conns.unlockWrite();
        }
        return { pos: this.pos, ...this.geometry };
      });
    } catch (err) {
      if (gap) this.#snapshot('WAL frames were missed (found while preparing a snapshot)');
      throw err;
    }
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
    if (!this.#conns!.tryLockWrite(timeoutMs)) throw lockedError(this.name, timeoutMs);
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
    let batch: ReturnType<typeof transactionsLtx>;
    try {
      batch = transactionsLtx(this.name, txs, this.#pos, sum, this.#o);
      this.#log.append(batch.files);
    } catch (err) {
      sum.rollback();
      throw err;
    }
    sum.commit();
    const { events } = batch;
    this.#pos = batch.pos;
    this.stats.commits += events.length;
    this.stats.lastCommitAt = events[events.length - 1]!.timestamp;
    for (const ev of events) this.emit('commit', ev);
  }

  /** Resets the WAL once the tail is captured under the app's write lock (see resetWal). */
  #resetWal(): void {
    const frameSize = WAL_FRAME_HEADER_SIZE + this.#checksum!.pageSize;
    const wal = { shm: this.#db.files.shm, frameSize, framesBytes: this.#reader.framesBytes, resetFrames: this.#o.resetFrames };
    const captureTail = () => {
      if (this.#poll().gap) throw new Error('WAL restarted while the write lock was held');
    };
    if (resetWal(this.#conns!, wal, captureTail)) this.stats.resets++;
  }

  /** Takes the write lock, consumes the WAL, pins, releases, then snapshots at the pin. */
  #snapshot(reason: string): void {
    const conns = this.#conns!;
    if (!conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw lockedError(this.name, SNAPSHOT_LOCK_MS);
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
    const sum = this.#conns!.pinnedChecksum();
    this.#checksum = sum;
    if (sum.value === this.#pos.checksum) {
      this.#o.logger.info({ db: this.name, pos: formatPos(this.#pos) }, 'database unchanged since the last logged transaction');
      this.#writeWalMark();
      return;
    }
    this.#startOver(reason);
  }

  /** The database as it is (its checksum state current) becomes the next TXID, as a snapshot the log starts over from. */
  #startOver(reason: string): void {
    const sum = this.#checksum!;
    const { pageSize, pageCount } = sum;
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

  /** Records where in the WAL the current position ends (see writeWalMark). */
  #writeWalMark(): void {
    writeWalMark(this.#log.dir, this.#pos, this.#reader.cursor, this.#checksum!);
  }
}
