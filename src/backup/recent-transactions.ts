import type { Pos } from '../ltx/position.ts';

// Per database. The primary ships about once a second, so its unshipped tail at a crash is a
// second or two of writes; this much covers that at thousands of small transactions a second.
const MAX_BYTES = 32 * 1024 * 1024;

/** One received transaction: its LTX file as the primary sent it, and where it starts and ends. */
export interface RecentTransaction {
  bytes: Buffer;
  minTxid: number;
  pre: bigint;
  pos: Pos;
}

/**
 * The last transactions of each database, one LTX file each, kept in memory for the backup. On the
 * primary they are what capture just wrote, shipped without reading the log back (at thousands of
 * commits a second that reading cost the app more than half its write rate). On a replica they are
 * what it applied: its own log gathers a second of transactions into one file, no good for a chain
 * whose every transaction is a restore point, so after a crash of the primary the replica that
 * takes over ships the old primary's unshipped tail from here and the chain goes on unbroken.
 */
export class RecentTransactions {
  // Oldest first; `head` skips the evicted ones (shifting the array on every commit would cost
  // as much as the commit at thousands a second), compacted once it is half the array.
  readonly #byDb = new Map<string, { files: RecentTransaction[]; head: number; bytes: number }>();

  /** Records a transaction applied after the last one recorded; one that does not follow it starts over. */
  add(db: string, tx: RecentTransaction): void {
    let r = this.#byDb.get(db);
    const last = r?.files[r.files.length - 1];
    if (!r || (last && (last.pos.txid + 1 !== tx.minTxid || last.pos.checksum !== tx.pre))) {
      r = { files: [], head: 0, bytes: 0 };
      this.#byDb.set(db, r);
    }
    r.files.push(tx);
    r.bytes += tx.bytes.length;
    while (r.bytes > MAX_BYTES && r.head < r.files.length - 1) r.bytes -= r.files[r.head++]!.bytes.length;
    if (r.head > 1024 && r.head * 2 > r.files.length) {
      r.files = r.files.slice(r.head);
      r.head = 0;
    }
  }

  /** Forgets a database's transactions (a snapshot replaced it, or one could not be kept). */
  forget(db: string): void {
    this.#byDb.delete(db);
  }

  /** The transaction that continues `pos` exactly (next TXID, pre-apply checksum = its checksum), if kept. */
  after(db: string, pos: Pos): RecentTransaction | undefined {
    const r = this.#byDb.get(db);
    if (!r) return undefined;
    // Contiguous, so ordered by TXID (a file may hold several when the primary sent a range).
    let lo = r.head;
    let hi = r.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r.files[mid]!.minTxid <= pos.txid) lo = mid + 1;
      else hi = mid;
    }
    const tx = r.files[lo];
    return tx && tx.minTxid === pos.txid + 1 && tx.pre === pos.checksum ? tx : undefined;
  }
}
