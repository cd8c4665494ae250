import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DatabaseApplier } from '../apply/database-applier.ts';
import { DatabaseCapture } from '../capture/database-capture.ts';
import { walReference } from '../capture/wal-resume.ts';
import type { DatabaseHandle, DbFiles } from '../sqlite/database-handle.ts';
import type { LockedDatabase } from '../sqlite/pages.ts';
import { isBusy, retryBusyAsync } from '../sqlite/busy.ts';
import type { SnapshotRead } from '../sqlite/snapshot-read.ts';
import { BusyError, UnsupportedDatabaseStateError } from '../errors.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import { SegmentLog } from '../log/segment-log.ts';
import type { Pos } from '../ltx/position.ts';

// How long DB.openSnapshotRead waits for an app's write to end, and how long one try may hold the thread.
const SNAPSHOT_WAIT_MS = 10_000;
const SNAPSHOT_TRY_LOCK_MS = 5;

/** Settings every database of a node shares. */
export interface DbOptions {
  dir: string;
  dataDir: string;
  nodeId: bigint;
  logger: Logger;
  resetFrames: number;
  compress: boolean;
  /** A log segment is closed at this age, so retention (which deletes whole segments) keeps close to its window. */
  segmentAgeMs?: number;
}



/**
 * One database on a node (LiteFS's noun): its live file, its log and its position, on either
 * role. On the primary a DatabaseCapture follows the app's commits into the log; on a replica a
 * DatabaseApplier applies the primary's transactions and logs them the same way. A role change
 * hands SQLite's write lock and the checksum state from one to the other, so the app is never let
 * in between and nothing is hashed again.
 */
export class DB extends EventEmitter implements DatabaseHandle {
  readonly name: string;
  readonly path: string;
  readonly log: SegmentLog;
  readonly #o: DbOptions;
  #capture: DatabaseCapture | undefined;
  #applier: DatabaseApplier | undefined;
  #files: DbFiles | undefined;
  #opened = false;
  #problem: { what: string; text: string; loggedAt: number } | undefined;

  constructor(name: string, options: DbOptions) {
    super();
    this.name = name;
    this.#o = options;
    this.path = path.join(options.dir, name);
    this.log = new SegmentLog(path.join(options.dataDir, 'dbs', name), { maxSegmentAgeMs: options.segmentAgeMs });
  }

  /** The last captured or applied transaction and the database checksum after it. */
  get pos(): Pos {
    return this.#capture?.pos ?? this.#applier?.pos ?? this.log.pos;
  }

  /** What keeps this database from being captured or applied right now (a full disk…), if anything. */
  get problem(): string | undefined {
    return this.#problem?.text;
  }

  reportProblem(what: string, err: unknown): void {
    const text = describeProblem(what, err, this.path, this.log.dir);
    const now = Date.now();
    // A pass is retried every poll: the same failure is logged again only now and then.
    if (this.#problem?.text === text && now - this.#problem.loggedAt < PROBLEM_LOG_INTERVAL_MS) return;
    this.#problem = { what, text, loggedAt: now };
    this.#o.logger.error({ db: this.name, err }, text);
  }

  clearProblem(what: string): void {
    if (this.#problem?.what !== what) return;
    this.#o.logger.info({ db: this.name }, `${what} works again after: ${this.#problem.text}`);
    this.#problem = undefined;
  }

  /** Page size and page count at that position. */
  get geometry(): { pageSize: number; pageCount: number } {
    return this.#capture?.geometry ?? this.#applier?.geometry ?? { pageSize: 0, pageCount: 0 };
  }

  /** The capture, while this database is followed as the primary's. */
  get capture(): DatabaseCapture | undefined {
    return this.#capture;
  }

  /** The applier, while this database is a replica's. */
  get applier(): DatabaseApplier | undefined {
    return this.#applier;
  }

  /** The kept descriptors (see DbFiles); capture opens them when it starts. */
  get files(): DbFiles {
    if (!this.#files) throw new Error(`database ${this.name}: its files are not open`);
    return this.#files;
  }

  /** Opens the kept descriptors (with a connection open and the database in WAL mode, so -shm exists). */
  openFiles(): void {
    this.#files ??= { db: fs.openSync(this.path, 'r'), shm: fs.openSync(`${this.path}-shm`, 'r') };
  }

  /**
   * A consistent read of the database at its position, on either role (for a snapshot, an export).
   * On the primary it needs a moment without an app's write: it tries for a few milliseconds at a
   * time, waiting between tries with timers (the API, the lease and the streams run on this
   * thread), for up to `waitMs`; then it throws BusyError.
   */
  openSnapshotRead(waitMs = SNAPSHOT_WAIT_MS): Promise<SnapshotRead> {
    const engine = this.#capture ?? this.#applier;
    if (!engine) return Promise.reject(new UnsupportedDatabaseStateError(`database ${this.name} is not open`));
    // Capture says BusyError when an app's write held the lock through the try.
    return retryBusyAsync(waitMs, `a snapshot of ${this.name}`, () => engine.openSnapshotRead(SNAPSHOT_TRY_LOCK_MS), (err) => err instanceof BusyError || isBusy(err));
  }

  /** Loads the log once (its torn tail, if any, is cut and reported). */
  #openLog(): void {
    if (this.#opened) return;
    const rec = this.log.recover();
    for (const r of rec.removed) this.#o.logger.warn({ db: this.name }, `log: removed ${r}`);
    this.#opened = true;
  }

  /**
   * Starts capturing (this node is the primary): from where the applier left the database, with
   * its write lock and checksum state, or after checking the database against the log.
   */
  startCapture(term: number): void {
    if (this.#capture) return;
    this.#openLog();
    const locked = this.#applier?.detach();
    this.#applier = undefined;
    const cap = new DatabaseCapture(this, {
      nodeId: this.#o.nodeId,
      term,
      logger: this.#o.logger,
      resetFrames: this.#o.resetFrames,
      compress: this.#o.compress,
    });
    cap.on('commit', (ev: CommitEvent) => this.emit('commit', ev));
    try {
      cap.start(locked);
    } catch (err) {
      cap.close();
      this.#releaseFiles();
      throw err;
    }
    this.#capture = cap;
  }

  /**
   * Starts applying (this node is a replica): taking over capture's write lock when it was the
   * primary (writes must be paused first), else opening the database and reconciling it with the log.
   */
  startApply(): void {
    if (this.#applier) return;
    this.#openLog();
    const locked = this.#capture?.detach() ?? this.#logWalTail();
    this.#capture = undefined;
    const applier = new DatabaseApplier(this, this.#o.logger);
    applier.on('commit', (ev: CommitEvent) => this.emit('commit', ev));
    applier.open(locked);
    this.#applier = applier;
  }

  /**
   * A node that was the primary when it died may have commits in the WAL it never logged (the
   * app's last writes). Before the database is opened as a replica's, they are logged as the next
   * TXIDs, exactly as capture would have: the database is then a state of its own log again, and
   * whatever the next primary does not share is set aside as history, not lost in a reset.
   * Returns the write-locked connection for the applier, or undefined when there is nothing to
   * resume (no WAL, or one that does not continue the log).
   */
  #logWalTail(): LockedDatabase | undefined {
    if (!fs.existsSync(`${this.path}-wal`) || !walReference(this.log, this.log.pos, this.#o.nodeId)) return undefined;
    // Under the term it was primary in: what it logs now is the tail of that term's history.
    const term = this.log.termAt(this.log.pos.txid);
    const cap = new DatabaseCapture(this, { nodeId: this.#o.nodeId, term, logger: this.#o.logger, resetFrames: this.#o.resetFrames, compress: this.#o.compress });
    try {
      if (cap.start(undefined, { resumeOnly: true })) {
        cap.pauseWrites(10_000);
        return cap.detach();
      }
    } catch (err) {
      this.#o.logger.warn({ db: this.name, err: (err as Error).message }, 'could not log the commits the WAL holds past the log');
    }
    cap.close();
    this.#releaseFiles();
    return undefined;
  }

  /**
   * Closes the descriptors an idle database does not need (its log segment's, capture's WAL
   * reader's) once nothing was logged for `idleMs`; its next transaction opens them again.
   */
  releaseIdleFiles(idleMs: number): void {
    if (this.#opened && this.log.releaseIdle(idleMs)) this.#capture?.releaseReader();
  }

  /** Ends capture or apply, makes the log durable and closes every connection and descriptor. */
  close(): void {
    try {
      this.#capture?.close();
      this.#applier?.close();
    } finally {
      this.#capture = undefined;
      this.#applier = undefined;
      this.#releaseFiles();
      if (this.#opened) {
        try {
          this.log.sync();
        } finally {
          this.log.close();
        }
      }
    }
  }

  /** Closes and deletes the database with its WAL, index and state (it was deleted on the primary). */
  drop(): void {
    this.close();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${this.path}${suffix}`, { force: true });
    fs.rmSync(this.log.dir, { recursive: true, force: true });
  }

  /** Closes the kept descriptors; only ever with no SQLite connection of this process open on the database. */
  #releaseFiles(): void {
    if (!this.#files) return;
    fs.closeSync(this.#files.db);
    fs.closeSync(this.#files.shm);
    this.#files = undefined;
  }

  /**
   * Called by an engine that closed every connection it had (the applier re-creating a database):
   * the descriptors go too, as nothing holds a lock that closing them could release.
   */
  releaseFilesAfterClose(): void {
    this.#releaseFiles();
  }
}

// How often a failure that goes on is logged again.
const PROBLEM_LOG_INTERVAL_MS = 30_000;

/** What a failure means for the user: a full disk says which disk and that nothing is lost. */
function describeProblem(what: string, err: unknown, dbPath: string, logDir: string): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ENOSPC' || code === 'EDQUOT') return `${what} paused: the disk holding ${logDir} is full; nothing is lost (the transactions wait in the WAL or on the primary) and ${what} resumes once there is space`;
  if (code === 'SQLITE_FULL') return `${what} paused: the disk holding ${dbPath} is full; nothing is lost and ${what} resumes once there is space`;
  return `${what} failed and is retried: ${(err as Error)?.message ?? String(err)}`;
}
