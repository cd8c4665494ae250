import type { Logger } from 'pino';
import { formatHex64, type DatabaseChecksum } from '../ltx/checksum.ts';
import { formatPos, type Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import type { DatabaseHandle } from '../sqlite/database-handle.ts';
import { WalReader, type WalTransaction } from '../wal/wal-reader.ts';
import type { CaptureConnections } from './capture-connections.ts';
import { transactionsLtx } from './transaction-ltx.ts';
import { writeWalMark } from './wal-resume.ts';

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

/**
 * What capture reads becomes the database's log here: WAL transactions and snapshots are logged
 * as the next TXIDs, the position and the database checksum follow them, and every logged
 * transaction is told to `onCommit` (the stream, the backup). When and under which lock it reads
 * is DatabaseCapture's concern.
 */
export class TransactionLogger {
  readonly reader: WalReader;
  /** The database checksum after the last logged transaction (undefined until capture knows it). */
  checksum: DatabaseChecksum | undefined;
  /** The last logged transaction and the database checksum after it. */
  pos: Pos = { txid: 0, checksum: 0n };
  /** Counters for metrics and tests. */
  readonly stats = { commits: 0, snapshots: 0, resets: 0, restarts: 0, lastCommitAt: 0 };
  readonly #db: DatabaseHandle;
  readonly #o: CaptureOptions;
  readonly #onCommit: (ev: CommitEvent) => void;

  constructor(db: DatabaseHandle, options: CaptureOptions, onCommit: (ev: CommitEvent) => void) {
    this.#db = db;
    this.#o = options;
    this.#onCommit = onCommit;
    this.reader = new WalReader(`${db.path}-wal`);
  }

  /** Page size and page count after the last logged transaction. */
  get geometry(): { pageSize: number; pageCount: number } {
    return { pageSize: this.checksum?.pageSize ?? 0, pageCount: this.checksum?.pageCount ?? 0 };
  }

  /**
   * Reads the WAL after the cursor (up to `budget` bytes) and logs what it finds. A failure to log
   * (a full disk) leaves the cursor and the checksum where they were: the frames stay pinned in
   * the WAL, and the next pass tries them again.
   */
  poll(budget = Infinity): ReturnType<WalReader['poll']> {
    const cursor = this.reader.cursor;
    const res = this.reader.poll(budget);
    if (res.gap) return res;
    try {
      this.logBatch(res.transactions);
    } catch (err) {
      this.reader.seek(cursor);
      throw err;
    }
    return res;
  }

  /**
   * Turns WAL transactions into the next LTX files, appends them to the log in one write, then
   * moves the position and tells the listeners.
   */
  logBatch(txs: WalTransaction[]): void {
    if (txs.length === 0) return;
    const sum = this.checksum!;
    const log = this.#db.log;
    log.noteTerm(this.pos.txid + 1, this.#o.term);
    sum.begin();
    let batch: ReturnType<typeof transactionsLtx>;
    try {
      batch = transactionsLtx(this.#db.name, txs, this.pos, sum, this.#o);
      log.append(batch.files);
    } catch (err) {
      sum.rollback();
      throw err;
    }
    sum.commit();
    const { events } = batch;
    this.pos = batch.pos;
    this.stats.commits += events.length;
    this.stats.lastCommitAt = events[events.length - 1]!.timestamp;
    for (const ev of events) this.#onCommit(ev);
  }

  /**
   * Hashes the state `conns` pin: when it differs from the current position (a new database, or
   * one changed behind capture's back), it becomes the next TXID as a snapshot, and the log starts
   * over from it (a replica behind it needs the database itself, which the stream sends); when it
   * hashes to the position, nothing changed and capture carries on.
   */
  snapshotPinned(conns: CaptureConnections, reason: string): void {
    const sum = conns.pinnedChecksum();
    this.checksum = sum;
    if (sum.value === this.pos.checksum) {
      this.#o.logger.info({ db: this.#db.name, pos: formatPos(this.pos) }, 'database unchanged since the last logged transaction');
      this.writeWalMark();
      return;
    }
    this.startOver(reason);
  }

  /** The database as it is (its checksum state current) becomes the next TXID, as a snapshot the log starts over from. */
  startOver(reason: string): void {
    const sum = this.checksum!;
    const { pageSize, pageCount } = sum;
    const pre = this.pos;
    const txid = pre.txid + 1;
    const name = this.#db.name;
    this.#db.log.reset({ txid, checksum: sum.value });
    this.#db.log.noteTerm(txid, this.#o.term);
    this.pos = { txid, checksum: sum.value };
    this.writeWalMark();
    this.stats.commits++;
    this.stats.snapshots++;
    this.stats.lastCommitAt = Date.now();
    this.#o.logger.info({ db: name, txid, pages: pageCount, checksum: formatHex64(sum.value) }, `snapshot taken: ${reason}`);
    this.#onCommit({ name, txid, checksum: sum.value, pre, pageSize, timestamp: this.stats.lastCommitAt, snapshot: true });
  }

  /** Records where in the WAL the current position ends (see writeWalMark). */
  writeWalMark(): void {
    writeWalMark(this.#db.log.dir, this.pos, this.reader.cursor, this.checksum!);
  }
}
