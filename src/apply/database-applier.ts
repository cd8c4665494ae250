import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { UnsupportedDatabaseStateError } from '../errors.ts';
import { retryBusy } from '../sqlite/busy.ts';
import type { LockedDatabase } from '../sqlite/pages.ts';
import { openSnapshotRead, type SnapshotRead } from '../sqlite/snapshot-read.ts';
import { pragmaValue, statement } from '../sqlite/statements.ts';
import { formatHex64 } from '../ltx/checksum.ts';
import { mergeLtxFiles } from '../ltx/compactor.ts';
import type { LtxFile } from '../ltx/decoder.ts';
import { readLtxFile, type LtxSource } from '../ltx/file-reader.ts';
import { formatPos, samePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import { coveredBy } from '../log/terms.ts';
import type { DatabaseHandle } from '../sqlite/database-handle.ts';
import { commitLtxPages, prepareEmptyReplica, readDatabaseState, type DatabaseState } from '../sqlite/apply-ltx.ts';
import { saveDatabaseCopy } from './database-copy.ts';
import { writeNewDatabase } from './new-database.ts';

/** A verified file from the primary, decoded, with its bytes as received (they go into the log as they are). */
export interface ReceivedLtx {
  file: LtxFile;
  bytes: Buffer;
}

// How long to wait for the write lock when a reader's checkpoint or a foreign writer holds it.
const LOCK_TIMEOUT_MS = 10_000;
const CHECKPOINT_PAGES = 1000;

/**
 * A replica's side of one database: logs every transaction from the primary as it arrives (in the
 * same segment log the primary keeps), then applies it through sqlite_dbpage in one write
 * transaction, several at a time when behind. Between applies it holds SQLite's write lock (an
 * open BEGIN IMMEDIATE), so other writers wait and fail; one that slips in while the lock is
 * re-taken changes PRAGMA data_version, and the database is then reported and reset from the primary.
 */
export class DatabaseApplier extends EventEmitter {
  readonly name: string;
  readonly #db: DatabaseHandle;
  readonly #logger: Logger;
  #conn: Database.Database | undefined;
  #state: DatabaseState | undefined;
  #pos: Pos = ZERO_POS;
  #dataVersion = -1;
  #foreignWrite = false;
  #walPages = 0;
  /** The content is not a state of the primary's history: save a copy before a snapshot replaces it. */
  #diverged = false;
  /** The primary's terms do not show this position in its history: a snapshot must not overwrite it without a copy. */
  #unproven = false;
  /** The primary's terms, received while #unproven. */
  #heldTerms: ReadonlyArray<readonly [number, number]> | undefined;

  constructor(db: DatabaseHandle, logger: Logger) {
    super();
    this.#db = db;
    this.name = db.name;
    this.#logger = logger;
  }

  /** The last applied TXID and the checksum after it (zero until the first snapshot). */
  get pos(): Pos {
    return this.#pos;
  }

  /** Page size and page count after the last apply. */
  get geometry(): { pageSize: number; pageCount: number } {
    return { pageSize: this.#state?.pageSize ?? 0, pageCount: this.#state?.pageCount ?? 0 };
  }

  /** True while the database waits for a snapshot to replace what is no state of the cluster's history. */
  get resetting(): boolean {
    return this.#diverged && this.#pos.txid === 0;
  }

  /** True once a foreign write was found; the database then needs a snapshot. */
  get foreignWrite(): boolean {
    return this.#foreignWrite;
  }

  /**
   * Opens the database. `locked` is a demoted primary's write-locked connection with its
   * position. Otherwise the database's own checksum says where it stands: at the newest position
   * of the log with that checksum (the log may hold transactions received but not yet applied
   * when the node died: they are dropped, the primary sends them again); a database that is no
   * state of the log is set aside and reset from the primary.
   */
  open(locked?: LockedDatabase): void {
    const log = this.#db.log;
    if (locked) {
      this.#adopt(locked);
      return;
    }
    if (!fs.existsSync(this.#db.path)) {
      this.#pos = ZERO_POS;
      return;
    }
    this.#connect();
    const actual = this.#state!.checksum.value;
    const at = log.findChecksum(actual);
    if (at) {
      log.truncateAfter(at);
      this.#pos = at;
      return;
    }
    // Changed behind the node's back: the log is still the primary's history, the database is
    // not; a snapshot replaces it (after saving a copy) and the log starts over from there.
    this.#logger.warn(
      { db: this.name, log: formatPos(log.pos), checksum: formatHex64(actual) },
      `replica database ${this.name} does not match its recorded position; resetting from primary`,
    );
    this.#pos = ZERO_POS;
    this.#diverged = true;
  }

  /**
   * Keeps the log's transactions after `txid` under `discarded/<time>/`, out of the chain: history
   * the primary does not share, never merged, kept for the operator.
   */
  setAside(txid: number, why: string): void {
    const target = path.join(this.#db.log.dir, 'discarded', new Date().toISOString().replace(/[:.]/g, '-'));
    const moved = this.#db.log.setAside(txid, target);
    if (!moved) return;
    this.#logger.warn(
      { db: this.name, from: moved.from, to: moved.to, files: moved.files, dir: target },
      `discarded transactions ${moved.from}-${moved.to} of ${this.name} (${why}); their LTX files are kept in ${target}`,
    );
  }

  /** True when this database's history passed through position `p` (its position now, or one its log has). */
  passedThrough(p: Pos): boolean {
    return (p.txid === this.#pos.txid ? this.#pos.checksum : this.#db.log.checksumAt(p.txid)) === p.checksum;
  }

  /**
   * The primary's history disagrees with this database's: finds the newest of the primary's
   * `points` this history passed through too, sets aside everything after it, and saves the
   * content before the snapshot that follows replaces it.
   */
  diverged(points: Pos[]): void {
    const fork = points.find((p) => this.passedThrough(p));
    this.#diverged = true;
    this.setAside(fork?.txid ?? this.#db.log.base.txid, fork ? `history forked from the primary's after TXID ${fork.txid}` : "history differs from the primary's; fork point not found");
  }

  /**
   * Takes the primary's (or the peer's about to send a snapshot) record of terms. Before merging
   * it into the log, checks whether this database's position is in that history — written under a
   * term whose transactions there reach at least as far (one node writes a term, in one line):
   * when it is not, or that cannot be told, the content is copied aside before a snapshot
   * replaces it.
   */
  takeTerms(terms: ReadonlyArray<readonly [number, number]>): void {
    const log = this.#db.log;
    if (this.#pos.txid > 0 && !coveredBy(terms, log.termAt(this.#pos.txid), this.#pos.txid)) this.#unproven = true;
    // While unproven, the log's own record is the only thing that still says so after a restart:
    // merged now, it would vouch for this content, and the next snapshot would overwrite it with
    // no copy. The primary's record joins once a transaction continues this position, or with
    // the snapshot.
    if (this.#unproven) this.#heldTerms = terms;
    else log.mergeTerms(terms);
  }

  /** Merges the terms held back while this position was unproven. */
  #mergeHeldTerms(): void {
    if (!this.#heldTerms) return;
    this.#db.log.mergeTerms(this.#heldTerms);
    this.#heldTerms = undefined;
  }

  /**
   * Logs contiguous transactions, then applies them as one write transaction, committing only if
   * the result hashes to the last one's post-apply checksum. Throws without changing the database
   * (or keeping them in the log) when they do not continue the position or do not verify.
   */
  apply(batch: ReceivedLtx[]): void {
    const first = batch[0]!.file.header;
    if (first.minTxid !== this.#pos.txid + 1 || first.preApplyChecksum !== this.#pos.checksum) {
      throw new Error(`TXID ${first.minTxid}-${batch[batch.length - 1]!.file.header.maxTxid} does not continue position ${formatPos(this.#pos)} of ${this.name}`);
    }
    const log = this.#db.log;
    if (!samePos(log.pos, this.#pos)) log.truncateAfter(this.#pos);
    // Starting from this state, the primary's history passed through it.
    this.#unproven = false;
    this.#mergeHeldTerms();
    // Logged first: a crash after the apply still finds the transaction in the log.
    log.append(batch.map((r) => r.bytes));
    const file = batch.length === 1 ? batch[0]!.file : mergeLtxFiles(batch.map((r) => r.file));
    try {
      if (!this.#conn) this.#create(first.pageSize);
      this.#applyInTransaction(file);
    } catch (err) {
      log.truncateAfter(this.#pos);
      throw err;
    }
    this.#advance(file.header.maxTxid, false, file.header.timestamp);
  }

  /**
   * A transaction too large to hold in memory, received into `spooled`: it joins the log as a
   * segment of its own (no copy), then is applied from there block by block.
   */
  applyLarge(spooled: string): void {
    const log = this.#db.log;
    if (!samePos(log.pos, this.#pos)) log.truncateAfter(this.#pos);
    const segment = log.adopt(spooled);
    let txid = 0;
    let timestamp = 0;
    try {
      const file = readLtxFile(segment);
      txid = file.header.maxTxid;
      timestamp = file.header.timestamp;
      if (!this.#conn) this.#create(file.header.pageSize);
      this.#applyInTransaction(file);
    } catch (err) {
      log.truncateAfter(this.#pos);
      throw err;
    }
    // It continued this position (its pre-apply checksum was checked).
    this.#unproven = false;
    this.#mergeHeldTerms();
    this.#advance(txid, false, timestamp);
  }

  /**
   * Applies a snapshot (the primary's database as it is): straight into a new file when this node
   * has none, else in one write transaction (a copy of a diverged database is saved first). The
   * log starts over from it.
   */
  applySnapshot(file: LtxSource): void {
    const h = file.header;
    if (this.#unproven && !this.#diverged && this.#conn) this.setAside(this.#db.log.base.txid, "this node's position is not in the primary's history, as far as its terms tell");
    if ((this.#diverged || this.#unproven) && this.#conn) this.#saveCopy();
    if (!this.#conn && !fs.existsSync(this.#db.path)) {
      this.#connect(writeNewDatabase(this.#db.path, file, this.name));
    } else {
      if (!this.#conn || this.#state!.pageSize !== h.pageSize) this.#create(h.pageSize);
      this.#applyInTransaction(file);
    }
    this.#diverged = false;
    this.#unproven = false;
    this.#db.log.reset({ txid: h.maxTxid, checksum: this.#state!.checksum.value });
    this.#mergeHeldTerms();
    this.#advance(h.maxTxid, true, h.timestamp);
  }

  #advance(txid: number, snapshot: boolean, timestamp: number): void {
    const pre = this.#pos;
    this.#pos = { txid, checksum: this.#state!.checksum.value };
    this.emit('commit', { name: this.name, txid, checksum: this.#pos.checksum, pre, pageSize: this.#state!.pageSize, timestamp, snapshot } satisfies CommitEvent);
  }

  #applyInTransaction(file: LtxSource): void {
    const db = this.#conn!;
    const shrinks = file.header.commit < this.#state!.pageCount;
    const schema = pragmaValue(db, 'schema_version');
    try {
      commitLtxPages(db, file, this.#state!);
    } catch (err) {
      this.#relock();
      throw err;
    }
    let stale = shrinks;
    try {
      stale ||= pragmaValue(db, 'schema_version') !== schema;
    } catch {
      stale = true;
    }
    if (stale) {
      // A connection that rewrote the schema (page 1) or truncated the file through sqlite_dbpage
      // keeps its old view of the schema: its next statement fails as "malformed" when a table
      // went away, while other connections see the database whole. A new connection replaces it.
      // The old one closes only after the new one holds its locks, so the process never lets go.
      this.#connect(this.#state);
      db.close();
      return;
    }
    // Copied back between applies (not inside COMMIT, where the lock is free), once enough has
    // piled up: each checkpoint fsyncs the database, and readers keep the WAL from restarting anyway.
    this.#walPages += Array.isArray(file.pages) ? file.pages.length : CHECKPOINT_PAGES;
    if (this.#walPages >= CHECKPOINT_PAGES) {
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
        this.#walPages = 0;
      } catch {
        // busy: the next apply tries again
      }
    }
    this.#relock();
  }

  /** Copies the content aside before a snapshot replaces it (see saveDatabaseCopy). */
  #saveCopy(): void {
    const copy = saveDatabaseCopy(this.#conn!, this.#state!, this.#db.log.dir, this.name);
    this.#logger.warn({ db: this.name, copy }, `saved the replaced content of ${this.name} to ${copy}`);
  }

  /**
   * A read transaction on a connection of its own that sees the database exactly at the applied
   * position (applies are synchronous, so none can land between reading the position and
   * beginning the read): another node fetching a snapshot from this one.
   */
  openSnapshotRead(): SnapshotRead {
    if (!this.#conn || this.#pos.txid === 0) throw new UnsupportedDatabaseStateError(`database ${this.name} has nothing applied yet`);
    const { pageSize, pageCount } = this.#state!;
    return openSnapshotRead(this.#db.path, (begin) => {
      begin();
      return { pos: this.#pos, pageSize, pageCount };
    });
  }

  /**
   * Hands over the write-locked connection and the position (the replica is being promoted); the
   * applier is done after this.
   */
  detach(): LockedDatabase | undefined {
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn || !this.#state || this.#pos.txid === 0) {
      conn?.close();
      return undefined;
    }
    return { db: conn, pos: this.#pos, state: this.#state };
  }

  /** Closes the connection (releasing the write lock). */
  close(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn) return;
    try {
      if (conn.inTransaction) conn.exec('ROLLBACK');
    } catch {
      // closing anyway
    }
    conn.close();
  }

  /** Forgets the position so the next stream brings a snapshot (after a foreign write, whose result is saved first). */
  resetPosition(): void {
    this.#foreignWrite = false;
    this.#diverged = true;
    this.#pos = ZERO_POS;
  }

  /** Opens the database; its checksum state is read from its pages unless the caller knows it. */
  #connect(known?: DatabaseState): void {
    const db = new Database(this.#db.path, { timeout: 0 });
    db.unsafeMode(true);
    retryBusy(LOCK_TIMEOUT_MS, () => db.pragma('journal_mode = WAL'));
    db.pragma('wal_autocheckpoint = 0');
    this.#conn = db;
    this.#state = known ?? readDatabaseState(db);
    this.#dataVersion = -1;
    this.#relock();
  }

  /** Takes over a demoted primary's connection, already inside BEGIN IMMEDIATE. */
  #adopt(locked: LockedDatabase): void {
    const db = locked.db;
    db.unsafeMode(true);
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('busy_timeout = 0');
    this.#conn = db;
    this.#state = locked.state;
    this.#pos = locked.pos;
    this.#dataVersion = Number(db.pragma('data_version', { simple: true }));
  }

  /**
   * Creates the database with the primary's page size (a new database, or one whose page size
   * changed: the old pages cannot be overwritten with pages of another size).
   */
  #create(pageSize: number): void {
    if (this.#conn) {
      this.#logger.warn({ db: this.name, pageSize }, `page size of ${this.name} changed on the primary; recreating the replica database`);
      this.close();
      this.#db.releaseFilesAfterClose();
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${this.#db.path}${suffix}`, { force: true });
    }
    const db = new Database(this.#db.path, { timeout: 0 });
    prepareEmptyReplica(db, pageSize);
    db.close();
    this.#connect();
  }

  /** Takes the write lock again and checks whether anyone else committed while it was free. */
  #relock(): void {
    const db = this.#conn!;
    retryBusy(LOCK_TIMEOUT_MS, () => statement(db, 'BEGIN IMMEDIATE').run());
    const version = pragmaValue(db, 'data_version');
    if (this.#dataVersion !== -1 && version !== this.#dataVersion && !this.#foreignWrite) {
      this.#foreignWrite = true;
      this.#logger.error({ db: this.name }, `foreign write on replica database ${this.name}; resetting from primary`);
    }
    this.#dataVersion = version;
  }
}
