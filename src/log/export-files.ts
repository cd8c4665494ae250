import fs from 'node:fs';
import path from 'node:path';
import { decodeHeader } from '../ltx/header.ts';
import { ltxFilename, type Pos } from '../ltx/position.ts';

/** Reads consecutive files of a log from the one starting at a TXID (see SegmentLog.read). */
type ReadLog = (fromTxid: number, maxBytes: number) => { files: Buffer[]; pos: Pos } | undefined;

/**
 * Writes the transactions `from`..`to` of a log as plain `<min>-<max>.ltx` files (one per stored
 * file) into `target`, for other tools (LiteFS's `ltx` reads them); fsyncs each.
 */
export function exportFiles(read: ReadLog, from: number, to: number, target: string): { from: number; to: number; files: number } | undefined {
  let txid = from;
  let files = 0;
  let first: number | undefined;
  for (;;) {
    const r = txid <= to ? read(txid, 4 * 1024 * 1024) : undefined;
    if (!r) break;
    for (const f of r.files) {
      const h = decodeHeader(f);
      if (h.minTxid > to) break;
      const fd = fs.openSync(path.join(target, ltxFilename(h.minTxid, h.maxTxid)), 'w');
      try {
        fs.writeSync(fd, f);
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      first ??= h.minTxid;
      files++;
      txid = h.maxTxid + 1;
    }
    if (txid <= r.pos.txid) break;
  }
  return first === undefined ? undefined : { from: first, to: txid - 1, files };
}
