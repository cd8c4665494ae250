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
 * The last transactions a replica received, one LTX file each, kept in memory. A replica's own log
 * gathers a second of transactions into one file, which is no good for a backup chain whose every
 * transaction is a restore point; after a crash of the primary, the replica that takes over ships
 * these from wherever the old primary's backup stopped, so the chain goes on unbroken.
 */
export class RecentTransactions {
  readonly #byDb = new Map<string, { files: RecentTransaction[]; bytes: number }>();

  /** Records a transaction applied after the last one recorded; one that does not follow it starts over. */
  add(db: string, tx: RecentTransaction): void {
    let r = this.#byDb.get(db);
    const last = r?.files[r.files.length - 1];
    if (!r || (last && (last.pos.txid + 1 !== tx.minTxid || last.pos.checksum !== tx.pre))) {
      r = { files: [], bytes: 0 };
      this.#byDb.set(db, r);
    }
    r.files.push(tx);
    r.bytes += tx.bytes.length;
    while (r.bytes > MAX_BYTES && r.files.length > 1) r.bytes -= r.files.shift()!.bytes.length;
  }

  /** Forgets a database's transactions (a snapshot replaced it, or one could not be kept). */
  forget(db: string): void {
    this.#byDb.delete(db);
  }

  /** The transaction that continues `pos` exactly (next TXID, pre-apply checksum = its checksum), if kept. */
  after(db: string, pos: Pos): RecentTransaction | undefined {
    const files = this.#byDb.get(db)?.files ?? [];
    // Contiguous, so ordered by TXID (a file may hold several when the primary sent a range).
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (files[mid]!.minTxid <= pos.txid) lo = mid + 1;
      else hi = mid;
    }
    const tx = files[lo];
    return tx && tx.minTxid === pos.txid + 1 && tx.pre === pos.checksum ? tx : undefined;
  }
}
