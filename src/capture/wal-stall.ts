import type { Logger } from 'pino';
import { readWalIndex, unreadBytes, type WalIndexState } from '../wal/wal-index.ts';
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE } from '../wal/wal-reader.ts';
import type { CaptureConnections } from './capture-connections.ts';
import { lockedError } from './database-mode.ts';
import type { TransactionLogger } from './transaction-logger.ts';

// How long the WAL index may say SQLite committed frames the reader cannot read before capture
// gives up following the WAL and starts over from a snapshot (a commit merely racing the check is
// read by the pass its file-system event brings, within milliseconds).
const STALL_MS = 1_000;

/**
 * Watches for SQLite's WAL index saying, for STALL_MS, that the WAL holds committed frames past
 * the reader's cursor, in its generation, which the reader cannot read: their checksum chain does
 * not continue from the cursor (a commit frame the reader took that SQLite then dropped, or frames
 * changed on disk). Reading on would never get past them, and the app's commits would go unlogged.
 */
export class WalStall {
  readonly #t: TransactionLogger;
  readonly #shm: () => number;
  readonly #name: string;
  readonly #logger: Logger;
  /** Since when idle passes have found the WAL index ahead of what the reader can read. */
  #since: number | undefined;

  constructor(t: TransactionLogger, shm: () => number, name: string, logger: Logger) {
    this.#t = t;
    this.#shm = shm;
    this.#name = name;
    this.#logger = logger;
  }

  /**
   * After an idle pass: when the frames have been unreadable for STALL_MS, under the app's write
   * lock (held for up to `lockMs`) the reader moves to the index's end and a snapshot logs the
   * database as it is there ('skipped'); 'gap' when that last read found the WAL restarted (the
   * caller snapshots); 'none' otherwise.
   */
  check(conns: CaptureConnections, lockMs: number): 'none' | 'gap' | 'skipped' {
    const reader = this.#t.reader;
    const cursor = reader.cursor;
    const pageSize = this.#t.checksum?.pageSize ?? 0;
    const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
    const ahead = (index: WalIndexState | undefined): index is WalIndexState => (unreadBytes(index, cursor, pageSize) ?? 0) > 0;
    if (!ahead(cursor && readWalIndex(this.#shm()))) {
      this.#since = undefined;
      return 'none';
    }
    const now = performance.now();
    this.#since ??= now;
    if (now - this.#since < STALL_MS) return 'none';
    this.#since = undefined;
    if (!conns.tryLockWrite(lockMs)) throw lockedError(this.#name, lockMs);
    let index: WalIndexState;
    try {
      // Under the lock nothing commits: a last read settles whether the frames are unreadable.
      const res = this.#t.poll();
      if (res.gap) return 'gap';
      const seen = readWalIndex(this.#shm());
      if (res.transactions.length > 0 || !ahead(seen)) return 'none';
      index = seen;
      this.#logger.error({ db: this.#name, frames: index.mxFrame, read: (cursor!.offset - WAL_HEADER_SIZE) / frameSize }, 'the WAL index counts committed frames the WAL cannot be read to (a broken checksum chain); reading on from the end of the index');
      reader.seek({ ...cursor!, offset: WAL_HEADER_SIZE + index.mxFrame * frameSize, s0: index.s0, s1: index.s1 });
      conns.repin();
    } finally {
      conns.unlockWrite();
    }
    this.#t.snapshotPinned(conns, `WAL frames ${(cursor!.offset - WAL_HEADER_SIZE) / frameSize + 1}-${index.mxFrame} could not be read`);
    return 'skipped';
  }
}
