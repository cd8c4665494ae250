import fs from 'node:fs';
import path from 'node:path';
import { LtxFormatError } from '../errors.ts';
import { decodeLtx } from '../ltx/decoder.ts';
import { ltxFileLength } from '../ltx/file-length.ts';
import { decodeHeader, HEADER_SIZE, type LtxHeader } from '../ltx/header.ts';
import { formatPos, ZERO_POS, type Pos } from '../ltx/position.ts';
import { locateMax, parseSegmentName, Segment } from './segment.ts';

/** What recovery found when it opened the log. */
export interface LogRecovery {
  /** The position after the last valid file (the base of an empty log). */
  pos: Pos;
  /** Header of the last valid file, which says where in the WAL it came from. */
  lastHeader: LtxHeader | undefined;
  /** What was cut off as torn or out of the chain (say so in the node's log). */
  removed: string[];
}

/** The segments of a log, oldest first, with the index records each has on disk; leftover temporary files go. */
export function openSegments(segmentsDir: string): Segment[] {
  for (const f of fs.readdirSync(segmentsDir)) if (f.endsWith('.tmp')) fs.rmSync(path.join(segmentsDir, f), { force: true });
  const names = fs.readdirSync(segmentsDir).map((n) => parseSegmentName(n)).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  return names.map((first) => {
    const seg = new Segment(segmentsDir, first);
    seg.loadIndex();
    return seg;
  });
}

/**
 * Checks every file of `segments` past the durable position, each continuing the one before;
 * at the first that does not, its segment is cut back to the files before it in memory, and
 * `cut` says which segment that is (the caller cuts its files and removes every later segment).
 * `base` is the position checking started from, `pos` the one after the last good file.
 */
export function checkSegments(segments: Segment[], durable: Pos | undefined): { base: Pos; pos: Pos; cut: number | undefined; removed: string[] } {
  const removed: string[] = [];
  // Where checking starts: right after the durable position when a file ends there with its
  // checksum (everything up to it was fsynced first), else from the log's first file.
  let start = { seg: 0, entry: 0 };
  let pos: Pos | undefined;
  if (durable) {
    const at = locateMax(segments, durable.txid);
    if (at && segments[at.seg]!.checksumAt(at.entry) === durable.checksum) {
      start = { seg: at.seg, entry: at.entry + 1 };
      pos = durable;
    } else if (segments.every((s) => s.count === 0 || s.firstTxid > durable.txid)) {
      pos = durable;
    } else {
      removed.push(`the durable position ${formatPos(durable)} is not in the log; checking every file`);
    }
  }
  if (!pos) pos = firstBase(segments) ?? ZERO_POS;
  return { base: pos, ...verifyFrom(segments, start, pos, removed), removed };
}

/** The position before the first file of the first non-empty segment, from its header. */
function firstBase(segments: Segment[]): Pos | undefined {
  const first = segments.find((s) => s.count > 0 || fs.statSync(s.path).size > 0);
  if (!first) return undefined;
  try {
    const h = decodeHeader(first.read(0, HEADER_SIZE));
    return { txid: h.minTxid - 1, checksum: h.preApplyChecksum };
  } catch {
    return undefined;
  }
}

/**
 * Decodes every file from `start` on (and any complete files written past a segment's index,
 * whose index write was cut off), each continuing the one before; stops at the first that
 * does not, with the segment to cut there, and returns the position after the last good one.
 */
function verifyFrom(segments: Segment[], start: { seg: number; entry: number }, base: Pos, removed: string[]): { pos: Pos; cut: number | undefined } {
  let pos = base;
  for (let si = start.seg; si < segments.length; si++) {
    const seg = segments[si]!;
    let i = si === start.seg ? start.entry : 0;
    if (i === 0 && pos.txid !== 0 && seg.firstTxid !== pos.txid + 1) {
      removed.push(`${path.basename(seg.path)} and after: do not continue position ${formatPos(pos)}`);
      seg.truncate(0);
      return { pos, cut: si };
    }
    for (; i < seg.count; i++) {
      try {
        const file = decodeLtx(seg.read(seg.offsetAt(i), seg.lengthAt(i)), { snapshotChecksum: false });
        const h = file.header;
        if (h.maxTxid !== seg.maxAt(i) || file.trailer.postApplyChecksum !== seg.checksumAt(i)) throw new LtxFormatError('does not match its index record');
        continues(h, pos);
        pos = { txid: h.maxTxid, checksum: file.trailer.postApplyChecksum };
      } catch (err) {
        removed.push(`${path.basename(seg.path)} from TXID ${seg.minAt(i)}: ${(err as Error).message}`);
        seg.truncate(i);
        return { pos, cut: si };
      }
    }
    const tail = walkTail(seg, pos, removed);
    pos = tail.pos;
    if (tail.torn) return { pos, cut: si };
  }
  return { pos, cut: undefined };
}

/**
 * Adds the complete, valid files written after a segment's last index record (the index write
 * was cut off); torn when it had to stop before the end of the file.
 */
function walkTail(seg: Segment, pos: Pos, removed: string[]): { pos: Pos; torn: boolean } {
  const fileSize = fs.statSync(seg.path).size;
  if (fileSize <= seg.size) return { pos, torn: false };
  const tail = seg.read(seg.size, fileSize - seg.size);
  let off = 0;
  while (off < tail.length) {
    try {
      const len = ltxFileLength(tail, off);
      if (len === undefined) break;
      const file = decodeLtx(tail.subarray(off, off + len), { snapshotChecksum: false });
      continues(file.header, pos);
      pos = { txid: file.header.maxTxid, checksum: file.trailer.postApplyChecksum };
      seg.push(file.header.maxTxid, pos.checksum, seg.size, len);
      off += len;
    } catch (err) {
      removed.push(`${path.basename(seg.path)} at byte ${seg.size}: ${(err as Error).message}`);
      break;
    }
  }
  const torn = off < tail.length;
  if (torn) removed.push(`${path.basename(seg.path)}: ${tail.length - off} bytes of a torn file cut at byte ${seg.size}`);
  seg.writeIndex();
  seg.truncateFiles();
  seg.close();
  return { pos, torn };
}

/** Throws unless the file `h` continues `pos` (a log's first file may start anywhere). */
function continues(h: LtxHeader, pos: Pos): void {
  if (pos.txid === 0) return;
  if (h.minTxid !== pos.txid + 1 || h.preApplyChecksum !== pos.checksum) throw new LtxFormatError(`TXID ${h.minTxid} does not continue position ${formatPos(pos)}`);
}
