import { EventEmitter } from 'node:events';
import { BusyError, UnsupportedDatabaseStateError } from '../errors.ts';
import { formatPos, type Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import type { DatabaseHandle } from '../sqlite/database-handle.ts';
import { readWalIndex, unreadBytes } from '../wal/wal-index.ts';
import { WAL_FRAME_HEADER_SIZE, type WalReader, type WalTransaction } from '../wal/wal-reader.ts';
import type { LockedDatabase } from '../sqlite/pages.ts';
import { openSnapshotRead, type SnapshotRead } from '../sqlite/snapshot-read.ts';
import { CaptureConnections } from './capture-connections.ts';
import { lockedError, modeChange, switchToWal } from './database-mode.ts';
import { TransactionLogger, type CaptureOptions } from './transaction-logger.ts';
import { resetWal } from './wal-reset.ts';
import { resumeFromWal, walReference } from './wal-resume.ts';
import { WalStall } from './wal-stall.ts';

// A pass logs at most about this much WAL, so catching up on a backlog leaves the event loop (the
// API, later the stream) a turn every few hundred commits.
const PASS_BYTES = 1024 * 1024;
// While commits flow the pin moves on at most this often: a pin behind what capture has read only
// holds the app's checkpoints back a little, and moving it (a read transaction ended and one
// begun) at every commit was a tenth of the primary's time at 1000 commits a second. The store's
// fallback poll (every second by default) brings it up to date once commits stop.
const REPIN_MS = 20;
const SNAPSHOT_LOCK_MS = 10_000;

/** `fn` run at the next turn of the event loop, once however often the result is called before then. */
function coalesced(fn: () => void): () => void {
  let due = false;
  return () => {
    if (due) return;
    due = true;
    setImmediate(() => {
      due = false;
      fn();
    });
  };
}

/**
 * Captures every transaction committed to one database into its LTX log, following the WAL from
 * outside SQLite with the protocol measured in reference/sqlite-wal-dbpage.md: a pinned read that
 * moves forward by turns, and WAL restarts owned by the node.
 */
export class DatabaseCapture extends EventEmitter {
  readonly name: string;
  readonly #db: DatabaseHandle;
  readonly #o: CaptureOptions;
  readonly #t: TransactionLogger;
  readonly #reader: WalReader;
  readonly #stall: WalStall;
  #conns: CaptureConnections | undefined;
  readonly #passSoon = coalesced(() => this.run());
  readonly #headerCheckSoon = coalesced(() => this.checkHeader());
  #running = false;
  #closed = false;
  #started = false;
  #paused = false;
  /** When the pin last moved, and whether capture has read past it since. */
  #pinnedAt = -Infinity;
  #pinBehind = false;
  /** Callers of settle() waiting for the next pass that reads the WAL to its end. */
  #settling: Array<(pos: Pos) => void> = [];
  /** Counters for metrics and tests. */
  readonly stats: TransactionLogger['stats'];

  constructor(db: DatabaseHandle, options: CaptureOptions) {
    super();
    this.#db = db;
    this.#o = options;
    this.name = db.name;
    this.#t = new TransactionLogger(db, options, (ev: CommitEvent) => this.emit('commit', ev));
    this.#reader = this.#t.reader;
    this.stats = this.#t.stats;
    this.#stall = new WalStall(this.#t, () => db.files.shm, db.name, options.logger);
  }

  get #log(): DatabaseHandle['log'] {
    return this.#db.log;
  }

  /** The last captured transaction and the database checksum after it. */
  get pos(): Pos {
    return { ...this.#t.pos };
  }

  /** Page size and page count after the last captured transaction. */
  get geometry(): { pageSize: number; pageCount: number } {
    return this.#t.geometry;
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
    this.#t.pos = log.pos;
    this.#conns = new CaptureConnections(this.#db.path);
    switchToWal(this.#conns, this.name, log.pos.txid > 0, this.#o.logger);
    if (!this.#conns.tryLockWrite(SNAPSHOT_LOCK_MS)) throw lockedError(this.name, SNAPSHOT_LOCK_MS);
    let resumed: WalTransaction[] | undefined;
    try {
      // Opened now that -shm is sure to exist (a database just switched to WAL gets it on first use).
      this.#db.openFiles();
      this.#reader.seek(undefined);
      const all = this.#reader.poll().transactions;
      const resume = resumeFromWal(walReference(this.#log, this.#t.pos, this.#o.nodeId), all, this.#t.pos, this.#db.files);
      if (resume) this.#t.checksum = resume.checksum;
      resumed = resume?.pending;
      this.#conns.repin();
    } finally {
      this.#conns.unlockWrite();
    }
    if (resumed) {
      this.#o.logger.info({ db: this.name, pos: formatPos(this.#t.pos), pending: resumed.length }, 'resuming capture from the WAL');
      this.#t.logBatch(resumed);
      log.sync();
    } else if (options.resumeOnly) {
      return false;
    } else {
      this.#t.snapshotPinned(this.#conns, log.pos.txid === 0 ? 'new database' : 'database changed while the node was down');
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
    this.#t.pos = locked.pos;
    this.#t.checksum = locked.state.checksum;
    this.#conns = new CaptureConnections(this.#db.path, locked.db);
    try {
      this.#db.openFiles();
      this.#reader.seek(undefined);
      // Past what the WAL holds, a slice at a time: a replica's WAL can hold many MB its readers
      // kept from being checkpointed, none of which is needed (read whole, it was held at once).
      while (this.#reader.poll(PASS_BYTES).more);
      this.#t.writeWalMark();
      this.#conns.repin();
    } finally {
      this.#conns.unlockWrite();
    }
    this.#started = true;
    this.#o.logger.info({ db: this.name, pos: formatPos(this.#t.pos) }, 'capturing from the replica\'s position');
    // A replica promoted in the middle of a reset (its history after the fork set aside, the
    // primary's snapshot not yet here) holds a database its log does not end at: that database
    // starts the log over, after the highest TXID this node has had, so TXIDs never go back.
    const { pos } = this.#t;
    if (this.#log.checksumAt(pos.txid) !== pos.checksum) this.#t.startOver('promoted while resetting from the last primary, whose snapshot never came');
    else this.#log.truncateAfter(pos);
  }

  /** Asks for a capture pass soon (coalesces bursts of WAL events into one pass). */
  schedule(): void {
    if (!this.#closed) this.#passSoon();
  }

  /**
   * The store's fallback poll, for file-system events that never came: a pass unless the reader
   * stands at the end of what SQLite's WAL index counts as committed (same generation, same frame)
   * and no pass has work left (the pin behind). Where a pass reads the WAL, its header and the
   * index, a poll with nothing new is one read of the index.
   */
  pollIfChanged(): void {
    if (this.#closed || !this.#started || this.#paused) return;
    try {
      const index = readWalIndex(this.#db.files.shm);
      // Nothing past the reader, or no committed frame at all (an idle database's empty WAL, where
      // the reader has no generation to compare with).
      if (!this.#pinBehind && (index?.mxFrame === 0 || unreadBytes(index, this.#reader.cursor, this.#t.checksum?.pageSize ?? 0) === 0)) return;
    } catch {
      // the pass reports what is wrong
    }
    this.schedule();
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
      const res = this.#t.poll(PASS_BYTES);
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
        const frameSize = WAL_FRAME_HEADER_SIZE + (this.#t.checksum?.pageSize ?? 4096);
        const now = performance.now();
        this.#pinBehind = false;
        if (this.#reader.framesBytes >= this.#o.resetFrames * frameSize) {
          if (resetWal(this.#conns!, this.#t, this.#db.files.shm, this.#o.resetFrames)) this.stats.resets++;
        } else if (res.transactions.length === 0 || now - this.#pinnedAt >= REPIN_MS) {
          this.#conns!.repin();
        } else {
          this.#pinBehind = true;
        }
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

  /** True when capture had to start over past WAL frames it cannot read (see WalStall). */
  #stalled(): boolean {
    const found = this.#stall.check(this.#conns!, SNAPSHOT_LOCK_MS);
    if (found === 'gap') this.#snapshot('WAL frames were missed (the WAL restarted more than once between reads)');
    return found !== 'none';
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

  /** Checks the header soon (see checkHeader): one check for a burst of writes to the database file. */
  checkHeaderSoon(): void {
    if (!this.#closed) this.#headerCheckSoon();
  }

  /**
   * Checks the database header for changes capture cannot follow (see modeChange). They are
   * logged and repaired (WAL again, then a new snapshot).
   */
  checkHeader(): void {
    if (this.#closed || !this.#started || this.#running || this.#paused) return;
    this.#running = true;
    try {
      const what = modeChange(this.name, this.#db.files.db, this.#t.checksum?.pageSize);
      if (!what) return;
      this.#o.logger.error({ db: this.name }, `${what}; taking a new snapshot`);
      this.#conns!.ensureWal();
      this.#snapshot(what);
    } catch (err) {
      this.#o.logger.error({ db: this.name, err }, 'could not check or repair the database mode');
    } finally {
      this.#running = false;
    }
  }

  /**
   * A read transaction on a connection of its own that sees the database exactly at the current
   * position, for sending a snapshot while capture goes on: the WAL is captured to its end under the
   * app's write lock, so nothing can commit between the last logged transaction and the read.
   * Throws BusyError when an app's write holds the lock for more than `lockMs` (the wait blocks the
   * thread: callers try briefly and wait between tries with timers, see DB.openSnapshotRead).
   */
  openSnapshotRead(lockMs: number): SnapshotRead {
    if (!this.#started || this.#closed) throw new UnsupportedDatabaseStateError(`database ${this.name} is not being captured`);
    const conns = this.#conns!;
    let gap = false;
    try {
      return openSnapshotRead(this.#db.path, (begin) => {
        // While writes are paused the lock is already held (a handoff can need a snapshot).
        if (!this.#paused && !conns.tryLockWrite(lockMs)) throw new BusyError(`database ${this.name} is locked by an app's write transaction`);
        try {
          gap = this.#t.poll().gap;
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
      const res = this.#t.poll(PASS_BYTES);
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
      const res = this.#t.poll();
      if (res.gap) throw new UnsupportedDatabaseStateError(`database ${this.name}: WAL frames were missed while pausing writes`);
      this.#log.sync();
    } catch (err) {
      this.resumeWrites();
      throw err;
    }
    return this.pos;
  }

  /** Closes the WAL reader's descriptor while the database is idle (its next pass opens it again). */
  releaseReader(): void {
    this.#reader.close();
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
    const checksum = this.#t.checksum!;
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
    this.#t.snapshotPinned(conns, reason);
  }
}
