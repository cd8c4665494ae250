import type { DatabaseChecksum, PageHash } from '../ltx/checksum.ts';
import { encodeLtx, encodeTransaction, transactionFileSize, type LtxPage } from '../ltx/encoder.ts';
import { FLAG_COMPRESS_LZ4, type LtxHeader } from '../ltx/header.ts';
import type { Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import { sqlitePageCount } from '../sqlite/pages.ts';
import type { WalTransaction } from '../wal/wal-reader.ts';

const ARENA_BYTES = 1024 * 1024;

/**
 * WAL transactions as the LTX files of the TXIDs after `from`, with the commit events to tell
 * once they are logged, and the position after the last; `sum` advances through them (the caller
 * commits or rolls it back, as the log takes the files or not).
 */
export function transactionsLtx(name: string, txs: WalTransaction[], from: Pos, sum: DatabaseChecksum, o: { compress: boolean; nodeId: bigint }): { files: Buffer[]; events: CommitEvent[]; pos: Pos } {
  const files: Buffer[] = [];
  const events: CommitEvent[] = [];
  // The batch's files are written back to back into buffers of up to ARENA_BYTES, each file sized
  // for every page its WAL transaction holds (a page past the commit's size is left out, so a
  // little may go unused): a Buffer per commit was a tenth of capture's CPU flat out, in allocation
  // and garbage collection. The cap bounds what one file kept in memory (the stream's tail) holds.
  const bound = (tx: WalTransaction) => transactionFileSize(tx.pages.size, sum.pageSize);
  let left = o.compress ? 0 : txs.reduce((n, tx) => n + bound(tx), 0);
  let arena: Buffer | undefined;
  let pos = from;
  for (const tx of txs) {
    const txid = pos.txid + 1;
    const need = bound(tx);
    if (!o.compress && (arena?.length ?? 0) < need) arena = Buffer.allocUnsafeSlow(Math.max(need, Math.min(left, ARENA_BYTES)));
    left -= need;
    const { ltx, header } = transactionLtx(tx, txid, pos.checksum, sum, o, arena);
    if (arena && ltx.buffer === arena.buffer) arena = arena.subarray(ltx.length);
    files.push(ltx);
    events.push({ name, txid, checksum: sum.value, pre: pos, pageSize: header.pageSize, timestamp: header.timestamp, snapshot: false, ltx });
    pos = { txid, checksum: sum.value };
  }
  return { files, events, pos };
}

/**
 * A transaction read from the WAL as the LTX file of TXID `txid`, continuing the checksum `pre`:
 * its pages within the commit's page count, in order, go into `sum`, which then holds the state
 * after it (its value is the file's post-apply checksum).
 */
export function transactionLtx(tx: WalTransaction, txid: number, pre: bigint, sum: DatabaseChecksum, o: { compress: boolean; nodeId: bigint }, into?: Buffer): { ltx: Buffer; header: LtxHeader } {
  const commit = databaseSize(tx, sum.pageCount);
  const pgnos = [...tx.pages.keys()].filter((p) => p <= commit).sort((a, b) => a - b);
  const pages = pgnos.map((pgno) => ({ pgno, data: tx.pages.get(pgno)! }));
  const header = ltxHeader(o, sum.pageSize, txid, txid, commit, pre, tx.offset, tx.size, tx.salt1, tx.salt2);
  const onPage = (p: LtxPage, hash?: PageHash) => sum.setPage(p.pgno, p.data, hash);
  const postApply = () => {
    sum.setPageCount(commit);
    return sum.value;
  };
  let ltx: Buffer;
  if (o.compress) {
    for (const p of pages) onPage(p);
    ltx = encodeLtx(header, pages, postApply());
  } else {
    ltx = encodeTransaction(header, pages, onPage, postApply, into);
  }
  return { ltx, header };
}

/**
 * The database's size after `tx` as SQLite goes by it: page 1's header when the transaction wrote
 * page 1, else the size before it (SQLite rewrites page 1 whenever that size changes). The WAL's
 * commit frame gives the pager's size, which can be larger: sqlite_dbpage on a replica cuts a
 * shrinking database only in the header (its truncation waits for the commit, and the page 1 write
 * after it cancels it), so the file keeps its old tail, and every later commit frame counts it.
 * Pages in that tail are no part of the database (page_count, integrity_check and snapshots leave
 * them out); counting them as zeros made a promoted replica's checksums disagree with its file.
 */
function databaseSize(tx: WalTransaction, before: number): number {
  const page1 = tx.pages.get(1);
  if (page1) return sqlitePageCount(page1, tx.commit);
  return before === 0 ? tx.commit : Math.min(before, tx.commit);
}

function ltxHeader(o: { compress: boolean; nodeId: bigint }, pageSize: number, minTxid: number, maxTxid: number, commit: number, pre: bigint, walOffset: number, walSize: number, salt1: number, salt2: number): LtxHeader {
  return {
    flags: o.compress ? FLAG_COMPRESS_LZ4 : 0,
    pageSize,
    commit,
    minTxid,
    maxTxid,
    timestamp: Date.now(),
    preApplyChecksum: pre,
    walOffset,
    walSize,
    walSalt1: walSize ? salt1 : 0,
    walSalt2: walSize ? salt2 : 0,
    nodeId: o.nodeId,
  };
}
