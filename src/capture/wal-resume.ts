import fs from 'node:fs';
import path from 'node:path';
import { DatabaseChecksum, formatHex64 } from '../ltx/checksum.ts';
import type { Pos } from '../ltx/position.ts';
import type { SegmentLog } from '../log/segment-log.ts';
import type { DbFiles } from '../sqlite/database-handle.ts';
import { sqlitePageCount } from '../sqlite/pages.ts';
import { readWalIndex } from '../wal/wal-index.ts';
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, type WalCursor, type WalTransaction } from '../wal/wal-reader.ts';

/** Where in the WAL a logged position ends (see walReference). */
interface WalMark {
  txid: number;
  checksum: string;
  salt1: number;
  salt2: number;
  /** Byte offset just past the position's last commit frame. */
  end: number;
  pageSize: number;
  pageCount: number;
}

/**
 * Where in the WAL the log's position `pos` ends, if this node captured it: the newest
 * transaction's header, or the mark capture leaves when it starts from a replica's position or a
 * snapshot. A node that has one may have commits in its WAL it never logged before it died.
 */
export function walReference(log: SegmentLog, pos: Pos, nodeId: bigint): WalMark | undefined {
  const last = log.headerAt(pos.txid);
  if (last && last.walSize > 0 && last.nodeId === nodeId) {
    return { txid: pos.txid, checksum: formatHex64(pos.checksum), salt1: last.walSalt1, salt2: last.walSalt2, end: last.walOffset + last.walSize, pageSize: last.pageSize, pageCount: last.commit };
  }
  try {
    const mark = JSON.parse(fs.readFileSync(path.join(log.dir, 'wal-mark'), 'utf8')) as WalMark;
    return mark.txid === pos.txid && mark.checksum === formatHex64(pos.checksum) ? mark : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Records where in the WAL the position `pos` ends (`<log dir>/wal-mark`), for a restart to
 * resume from when the log's newest transaction was not captured here (a replica promoted, or a
 * snapshot, since): the WAL then still tells what the app committed after it.
 */
export function writeWalMark(logDir: string, pos: Pos, cursor: WalCursor | undefined, sum: DatabaseChecksum): void {
  if (!cursor) return;
  const mark: WalMark = { txid: pos.txid, checksum: formatHex64(pos.checksum), salt1: cursor.salt1, salt2: cursor.salt2, end: cursor.offset, pageSize: sum.pageSize, pageCount: sum.pageCount };
  const file = path.join(logDir, 'wal-mark');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(mark));
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * Called at start with the write lock held and every WAL transaction read. If the WAL still holds
 * the position's end unchanged (see walReference), and nothing after it was copied back into
 * the database file, the state at that point is rebuilt from the file plus the frames before it;
 * when its checksum matches the position, capture resumes there with that checksum state and the
 * transactions after it.
 */
export function resumeFromWal(ref: WalMark | undefined, txs: WalTransaction[], pos: Pos, files: DbFiles): { checksum: DatabaseChecksum; pending: WalTransaction[] } | undefined {
  if (!ref || pos.txid === 0) return undefined;
  const backfill = readWalIndex(files.shm)?.backfill;
  if (backfill === undefined) return undefined;
  const idx = txs.findIndex((t) => t.salt1 === ref.salt1 && t.salt2 === ref.salt2 && t.offset + t.size === ref.end);
  if (idx >= 0 && backfill * (WAL_FRAME_HEADER_SIZE + ref.pageSize) <= ref.end - WAL_HEADER_SIZE) {
    const upto = txs.slice(0, idx + 1);
    const overlay = new Map<number, Uint8Array>();
    for (const t of upto) for (const [p, d] of t.pages) overlay.set(p, d);
    const checksum = stateAtPosition(files.db, ref.pageSize, upto[upto.length - 1]!.commit, overlay, pos);
    if (checksum) return { checksum, pending: txs.slice(idx + 1) };
  }
  // The WAL started over after the position (capture's own reset checkpointed everything first,
  // or nothing had been written since): then the file alone is the position, untouched since,
  // and every transaction in the WAL came after it.
  if (backfill === 0) {
    const checksum = stateAtPosition(files.db, ref.pageSize, Math.floor(fs.fstatSync(files.db).size / ref.pageSize), new Map(), pos);
    if (checksum) return { checksum, pending: txs };
  }
  return undefined;
}

/** Hashes the database file with `overlay` on top; that checksum state when it is the position's. */
function stateAtPosition(dbFd: number, pageSize: number, pagerPages: number, overlay: Map<number, Uint8Array>, pos: Pos): DatabaseChecksum | undefined {
  const sum = new DatabaseChecksum(pageSize);
  const page = Buffer.alloc(pageSize);
  // SQLite's own size, as capture logs it (see transaction-ltx.ts): the file may hold more.
  let page1 = overlay.get(1);
  if (!page1) {
    page1 = Buffer.alloc(pageSize);
    fs.readSync(dbFd, page1, 0, pageSize, 0);
  }
  const commit = sqlitePageCount(page1, pagerPages);
  for (let p = 1; p <= commit; p++) {
    const o = p === 1 ? page1 : overlay.get(p);
    if (o) {
      sum.setPage(p, o);
    } else {
      page.fill(0);
      fs.readSync(dbFd, page, 0, pageSize, (p - 1) * pageSize);
      sum.setPage(p, page);
    }
  }
  sum.setPageCount(commit);
  return sum.value === pos.checksum ? sum : undefined;
}
