import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { ChecksumMismatchError } from '../errors.ts';
import { DatabaseChecksum, formatHex64 } from '../ltx/checksum.ts';
import { fsyncDir } from '../log/fsync.ts';
import { mergeLtxFiles } from '../ltx/compactor.ts';
import type { LtxFile } from '../ltx/decoder.ts';
import type { LtxSource } from '../ltx/file-reader.ts';
import { encodeLtx } from '../ltx/encoder.ts';
import { isSnapshot } from '../ltx/header.ts';
import { formatPos, parsePos, ZERO_POS, type Pos } from '../ltx/position.ts';
import { LtxLog } from '../log/ltx-log.ts';
import { databasePages, retryBusy } from '../capture/capture-connections.ts';
import type { LockedDatabase } from '../capture/database-capture.ts';
import { commitLtxPages, prepareEmptyReplica, readDatabaseState, writePagesToFile, type DatabaseState } from './apply-ltx.ts';

/** Settings of one replica database. */
export interface ReplicaDatabaseOptions {
  name: string;
  /** The live file readers open. */
  dbPath: string;
  /** `<data-dir>/dbs/<name>`. */
  stateDir: string;
  logger: Logger;
}

// How long to wait for the write lock when a reader's checkpoint or a foreign writer holds it.
const LOCK_TIMEOUT_MS = 10_000;
const CHECKPOINT_PAGES = 1000;
const PENDING_LOG_BYTES = 8 * 1024 * 1024;

/**
 * One database on a replica: applies verified LTX files through sqlite_dbpage and keeps them in
 * its log. Between applies it holds SQLite's write lock (an open BEGIN IMMEDIATE), so other
 * writers wait and fail; one that slips in while the lock is re-taken changes PRAGMA data_version,
 * and the database is then reported and reset from the primary.
 */
export class ReplicaDatabase {
  readonly name: string;
  readonly log: LtxLog;
  readonly #o: ReplicaDatabaseOptions;
  #db: Database.Database | undefined;
  #state: DatabaseState | undefined;
  #pos: Pos = ZERO_POS;
  #dataVersion = -1;
  #foreignWrite = false;
  #walPages = 0;
  #pendingLog: LtxFile[] = [];
  #appliedFd: number | undefined;
  #pendingBytes = 0;
  /** Descriptors handed over with a demoted primary's write lock, closed only after the connection. */
  #lockFds: LockedDatabase['fds'] | undefined;
  /** The content is not a state of the primary's history: save a copy before a snapshot replaces it. */
  #diverged = false;

  constructor(options: ReplicaDatabaseOptions) {
    this.#o = options;
    this.name = options.name;
    this.log = new LtxLog(options.stateDir);
  }

  /** The last applied TXID and the checksum after it (zero until the first snapshot). */
  get pos(): Pos {
    return { ...this.#pos };
  }

  /** Page size and page count after the last apply. */
  get geometry(): { pageSize: number; pageCount: number } {
    return { pageSize: this.#state?.pageSize ?? 0, pageCount: this.#state?.pageCount ?? 0 };
  }

  /** True once a foreign write was found; the database then needs a snapshot. */
  get foreignWrite(): boolean {
    return this.#foreignWrite;
  }

  /**
   * Opens the database (if it exists) and reconciles it with the position file: a crash between a
   * commit and the position write leaves the database one apply ahead, which the log tells; any
   * other difference (a file changed behind the node's back) resets the position, so the primary
   * sends a snapshot.
   */
  open(locked?: LockedDatabase): void {
    this.log.recover();
    if (locked) {
      this.#lockFds = locked.fds;
      this.#adopt(locked);
    } else if (!fs.existsSync(this.#o.dbPath)) {
      this.#pos = ZERO_POS;
      return;
    } else {
      this.#connect();
    }
    const state = this.#state!;
    const actual = state.checksum.value;
    // `applied` is the newest while a replica; `pos` is what capture wrote if this node was primary.
    const saved: Pos[] = [];
    for (const file of [this.#appliedPath, this.log.posPath]) {
      try {
        saved.push(parsePos(fs.readFileSync(file, 'utf8')));
      } catch {
        // missing or torn: the other one, or the log, tells
      }
    }
    const match = saved.find((p) => p.checksum === actual);
    if (match) {
      this.#pos = match;
      this.#writePos();
      this.#trimLog();
      return;
    }
    const newest = saved.reduce<Pos | undefined>((a, p) => (a && a.txid >= p.txid ? a : p), undefined);
    const last = this.log.entries[this.log.entries.length - 1];
    if (last && newest && last.maxTxid > newest.txid && this.log.postApplyChecksum(last) === actual) {
      this.#pos = { txid: last.maxTxid, checksum: actual };
      this.#writePos();
      this.#trimLog();
      return;
    }
    this.#o.logger.warn(
      { db: this.name, position: newest ? formatPos(newest) : 'none', checksum: formatHex64(actual) },
      `replica database ${this.name} does not match its recorded position; resetting from primary`,
    );
    this.#pos = ZERO_POS;
    this.#diverged = true;
    this.setAside(0, 'the database did not match its recorded position');
  }

  /**
   * Keeps the log's transactions after `txid` (all of them for 0) under `discarded/<time>/`, out
   * of the chain: they are history the primary does not share, never merged, kept for the operator.
   */
  setAside(txid: number, why: string): void {
    const target = path.join(this.log.dir, 'discarded', new Date().toISOString().replace(/[:.]/g, '-'));
    this.#writePendingLog();
    const moved = this.log.setAside(txid, target);
    if (moved.length === 0) return;
    this.#o.logger.warn(
      { db: this.name, from: moved[0]!.minTxid, to: moved[moved.length - 1]!.maxTxid, files: moved.length, dir: target },
      `discarded transactions ${Math.max(txid + 1, moved[0]!.minTxid)}-${moved[moved.length - 1]!.maxTxid} of ${this.name} (${why}); their LTX files are kept in ${target}`,
    );
  }

  /**
   * The primary's history disagrees with this database's: finds the newest of the primary's
   * `points` this history passed through too, sets aside everything after it, and saves the
   * content before the snapshot that follows replaces it.
   */
  diverged(points: Pos[]): void {
    const fork = points.find((p) => (p.txid === this.#pos.txid ? this.#pos.checksum : this.log.checksumAt(p.txid)) === p.checksum);
    this.#diverged = true;
    this.setAside(fork?.txid ?? 0, fork ? `history forked from the primary's after TXID ${fork.txid}` : 'history differs from the primary\'s; fork point not found');
  }

  /** A log that does not end at the database's position (files gathered but lost in a crash) starts over. */
  #trimLog(): void {
    const last = this.log.entries[this.log.entries.length - 1];
    if (last && last.maxTxid !== this.#pos.txid) this.log.clear();
  }

  /**
   * Applies one verified file (several received files merged, or a snapshot) in one transaction,
   * committing only if the result hashes to its post-apply checksum, then gathers it for the log
   * and records the position. Throws without changing anything when the file does not continue
   * the position or the result does not verify.
   */
  apply(file: LtxSource, spooled?: string): void {
    const h = file.header;
    if (!isSnapshot(h) && (h.minTxid !== this.#pos.txid + 1 || h.preApplyChecksum !== this.#pos.checksum)) {
      throw new Error(`TXID ${h.minTxid}-${h.maxTxid} does not continue position ${formatPos(this.#pos)} of ${this.name}`);
    }
    if (isSnapshot(h) && this.#diverged && this.#db) this.#saveCopy();
    if (isSnapshot(h) && !this.#db && !fs.existsSync(this.#o.dbPath)) {
      this.#writeNewDatabase(file);
    } else {
      if (!this.#db || (isSnapshot(h) && this.#state!.pageSize !== h.pageSize)) this.#create(h.pageSize);
      this.#applyInTransaction(file);
    }
    this.#pos = { txid: h.maxTxid, checksum: this.#state!.checksum.value };
    if (isSnapshot(h)) this.#diverged = false;
    // A snapshot is the database itself: only the files after it are worth keeping. Those are
    // gathered and written as one range file a second (or every few MB): a file per transaction
    // would cost a replica as much disk time as its primary spends capturing.
    if (isSnapshot(h)) {
      this.#pendingLog = [];
      this.#pendingBytes = 0;
      this.log.clear();
    } else if (spooled) {
      // Too large to gather in memory: the received file itself joins the log, after what is gathered.
      this.#writePendingLog();
      this.log.adopt(h.minTxid, h.maxTxid, spooled);
    } else {
      const f = file as LtxFile;
      this.#pendingLog.push(f);
      this.#pendingBytes += f.pages.length * h.pageSize;
      if (this.#pendingBytes >= PENDING_LOG_BYTES) this.#writePendingLog();
    }
    this.#writePos();
  }

  #writePendingLog(): void {
    if (this.#pendingLog.length === 0) return;
    const files = this.#pendingLog;
    this.#pendingLog = [];
    this.#pendingBytes = 0;
    const merged = files.length === 1 ? files[0]! : mergeLtxFiles(files);
    const bytes = encodeLtx(merged.header, merged.pages, merged.trailer.postApplyChecksum);
    this.log.append(merged.header.minTxid, merged.header.maxTxid, bytes);
  }

  #applyInTransaction(file: LtxSource): void {
    const db = this.#db!;
    const shrinks = file.header.commit < this.#state!.pageCount;
    const schema = Number(db.pragma('schema_version', { simple: true }));
    try {
      commitLtxPages(db, file, this.#state!);
    } catch (err) {
      this.#relock();
      throw err;
    }
    let stale = shrinks;
    try {
      stale ||= Number(db.pragma('schema_version', { simple: true })) !== schema;
    } catch {
      stale = true;
    }
    if (stale) {
      // A connection that rewrote the schema (page 1) or truncated the file through sqlite_dbpage
      // keeps its old view of the schema: its next statement fails as "malformed" when a table
      // went away, while other connections see the database whole. A new connection replaces it.
      db.close();
      this.#connect(this.#state);
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

  /**
   * A database this node does not have yet is written straight from the snapshot's pages into a
   * new file, fsynced and renamed into place: no reader can have it open, so nothing needs
   * SQLite's atomicity, and the pages are written once instead of to the WAL and again back.
   */
  #writeNewDatabase(file: LtxSource): void {
    const h = file.header;
    const tmp = `${this.#o.dbPath}.litefleet-new`;
    const sum = new DatabaseChecksum(h.pageSize);
    const fd = fs.openSync(tmp, 'w');
    try {
      writePagesToFile(fd, file.pages, h.pageSize, sum);
      sum.setPageCount(h.commit);
      if (sum.value !== file.trailer.postApplyChecksum) {
        throw new ChecksumMismatchError(`snapshot of ${this.name} hashes to ${formatHex64(sum.value)}, but the file says ${formatHex64(file.trailer.postApplyChecksum)}`);
      }
      fs.ftruncateSync(fd, h.commit * h.pageSize);
      fs.fdatasyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    // Leftovers of an earlier database of this name would be read as this one's WAL.
    this.#removeFiles(['-wal', '-shm']);
    fs.renameSync(tmp, this.#o.dbPath);
    fsyncDir(path.dirname(this.#o.dbPath));
    this.#connect({ pageSize: h.pageSize, pageCount: h.commit, checksum: sum });
  }

  /**
   * Copies the database as it is, page by page, next to the discarded LTX files before a snapshot
   * overwrites it: never a database replaced without a way back. Read inside the write
   * transaction the replica holds, so the copy is consistent and no app write slips in meanwhile
   * (VACUUM INTO would need the lock released).
   */
  #saveCopy(): void {
    const dir = path.join(this.log.dir, 'discarded');
    fs.mkdirSync(dir, { recursive: true });
    const copy = path.join(dir, `${this.name}.${new Date().toISOString().replace(/[:.]/g, '-')}.db`);
    const { pageSize, pageCount } = this.#state!;
    const fd = fs.openSync(`${copy}.tmp`, 'w');
    try {
      for (const { pgno, data } of databasePages(this.#db!)) {
        if (pgno > pageCount) break;
        if (pgno === 1) {
          // A plain rollback-journal database: the copy opens on its own, without a WAL.
          data[18] = 1;
          data[19] = 1;
        }
        fs.writeSync(fd, data, 0, data.length, (pgno - 1) * pageSize);
      }
      fs.ftruncateSync(fd, pageCount * pageSize);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(`${copy}.tmp`, copy);
    fsyncDir(dir);
    this.#o.logger.warn({ db: this.name, copy }, `saved the replaced content of ${this.name} to ${copy}`);
  }

  /** Writes the gathered LTX files and syncs them and the position in the background (call about once a second). */
  flush(): void {
    this.#writePendingLog();
    this.log.flush(this.#pos);
  }

  /** Deletes stored LTX files older than the retention window. */
  prune(retentionMs: number): number {
    return this.log.prune(Date.now() - retentionMs);
  }

  /** Writes what is gathered, makes the log durable and closes the connection (releasing the write lock). */
  close(): void {
    this.#writePendingLog();
    this.log.sync(this.#pos);
    if (this.#appliedFd !== undefined) fs.closeSync(this.#appliedFd);
    this.#appliedFd = undefined;
    if (this.#db) {
      try {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      } catch {
        // closing anyway
      }
      this.#db.close();
      this.#db = undefined;
    }
    if (this.#lockFds) {
      fs.closeSync(this.#lockFds.db);
      fs.closeSync(this.#lockFds.shm);
      this.#lockFds = undefined;
    }
  }

  /** Closes the database and deletes it with its WAL, index and state (the primary dropped it). */
  drop(): void {
    this.close();
    this.#removeFiles(['', '-wal', '-shm']);
    fs.rmSync(this.log.dir, { recursive: true, force: true });
  }

  /** Forgets the position so the next stream brings a snapshot (after a foreign write, whose result is saved first). */
  resetPosition(): void {
    this.#foreignWrite = false;
    this.#diverged = true;
    this.#pos = ZERO_POS;
  }

  /** Deletes the database file and/or its WAL and index (the suffixes of dbPath to remove). */
  #removeFiles(suffixes: string[]): void {
    for (const suffix of suffixes) fs.rmSync(`${this.#o.dbPath}${suffix}`, { force: true });
  }

  /** Opens the database; its checksum state is read from its pages unless the caller knows it. */
  #connect(known?: DatabaseState): void {
    const db = new Database(this.#o.dbPath, { timeout: 0 });
    db.unsafeMode(true);
    retryBusy(LOCK_TIMEOUT_MS, () => db.pragma('journal_mode = WAL'));
    db.pragma('wal_autocheckpoint = 0');
    this.#db = db;
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
    this.#db = db;
    this.#state = locked.state;
    this.#dataVersion = Number(db.pragma('data_version', { simple: true }));
  }

  /**
   * Creates the database with the primary's page size (a new database, or one whose page size
   * changed: the old pages cannot be overwritten with pages of another size).
   */
  #create(pageSize: number): void {
    if (this.#db) {
      this.#o.logger.warn({ db: this.name, pageSize }, `page size of ${this.name} changed on the primary; recreating the replica database`);
      this.close();
      this.#removeFiles(['', '-wal', '-shm']);
    }
    const db = new Database(this.#o.dbPath, { timeout: 0 });
    prepareEmptyReplica(db, pageSize);
    db.close();
    this.#connect();
  }

  /** Takes the write lock again and checks whether anyone else committed while it was free. */
  #relock(): void {
    const db = this.#db!;
    retryBusy(LOCK_TIMEOUT_MS, () => db.exec('BEGIN IMMEDIATE'));
    const version = Number(db.pragma('data_version', { simple: true }));
    if (this.#dataVersion !== -1 && version !== this.#dataVersion && !this.#foreignWrite) {
      this.#foreignWrite = true;
      this.#o.logger.error({ db: this.name }, `foreign write on replica database ${this.name}; resetting from primary`);
    }
    this.#dataVersion = version;
  }

  /**
   * Records the applied position in `applied`, overwritten in place through a descriptor kept open:
   * truncating and rewriting a file costs a metadata commit on every apply. Not fsynced: on restart
   * the database's own checksum is the truth, and open() reconciles.
   */
  #writePos(): void {
    this.#appliedFd ??= fs.openSync(this.#appliedPath, fs.existsSync(this.#appliedPath) ? 'r+' : 'w+');
    fs.writeSync(this.#appliedFd, Buffer.from(`${formatPos(this.#pos)}\n`), 0, undefined, 0);
  }

  get #appliedPath(): string {
    return path.join(this.log.dir, 'applied');
  }
}
