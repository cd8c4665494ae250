import lz4 from 'lz4js';
import { ChecksumMismatchError, LtxFormatError } from '../errors.ts';
import { CHECKSUM_FLAG, DatabaseChecksum, formatHex64, lockPgno } from './checksum.ts';
import { crc64Final, crc64Init, crc64Shift, crc64Update, hashFrame } from './crc64.ts';
import type { LtxPage } from './encoder.ts';
import { lz4FrameEnd } from './file-length.ts';
import {
  decodeHeader,
  FLAG_COMPRESS_LZ4,
  HEADER_SIZE,
  isSnapshot,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
  validateTrailer,
  type LtxHeader,
  type LtxTrailer,
} from './header.ts';

// An LZ4 sequence turns one byte into at most 255.
const LZ4_MAX_RATIO = 255;

/** A fully decoded and verified LTX file. */
export interface LtxFile {
  header: LtxHeader;
  pages: LtxPage[];
  trailer: LtxTrailer;
}

/** Reads the trailer from the last 16 bytes without verifying anything else. */
export function decodeTrailer(buf: Uint8Array): LtxTrailer {
  if (buf.length < HEADER_SIZE + TRAILER_SIZE) throw new LtxFormatError(`truncated file: ${buf.length} bytes is too short for an LTX file`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  return { postApplyChecksum: b.readBigUInt64BE(buf.length - 16), fileChecksum: b.readBigUInt64BE(buf.length - 8) };
}

/**
 * The page block of a compressed file, decompressed into at most what the header allows (every
 * page of the database once, and the terminator) and what LZ4 can expand its bytes to (255 to 1):
 * a flipped byte in a block or content size otherwise had lz4js allocate and fill gigabytes before
 * any checksum was looked at. Whatever a corrupt frame writes past that bound is dropped, and the
 * file checksum then fails.
 */
function inflate(body: Uint8Array, header: LtxHeader): Uint8Array {
  const limit = Math.min(header.commit * (PAGE_HEADER_SIZE + header.pageSize) + PAGE_HEADER_SIZE, body.length * LZ4_MAX_RATIO);
  const view = Buffer.from(body.buffer, body.byteOffset, body.length);
  // Every block must lie within the body: lz4js copies a block of the size it is told.
  if (lz4FrameEnd(view, 0) !== body.length) throw new LtxFormatError('compressed page block is corrupt: its LZ4 blocks do not end where the page block does');
  try {
    return lz4.decompress(body, limit);
  } catch (err) {
    throw new LtxFormatError(`compressed page block is corrupt: ${(err as Error).message}`);
  }
}

/**
 * Decodes an LTX file and checks every rule and checksum: the file checksum always, and for
 * snapshots also that the pages hash to the post-apply checksum (unless the caller hashes them
 * itself as it applies them: `snapshotChecksum: false`). Errors name what is wrong.
 */
export function decodeLtx(buf: Uint8Array, options: { snapshotChecksum?: boolean } = {}): LtxFile {
  const header = decodeHeader(buf);
  const trailer = decodeTrailer(buf);
  const raw = buf.subarray(HEADER_SIZE, buf.length - TRAILER_SIZE);
  const body = header.flags & FLAG_COMPRESS_LZ4 ? inflate(raw, header) : raw;

  // A page frame is the page number (4 bytes, big-endian) and the page: exactly what a page
  // checksum hashes. So each frame is hashed once, on its own, and the file checksum is assembled
  // from those CRCs; appliers reuse them for the database checksum.
  const crc = crc64Init();
  crc64Update(crc, buf, 0, HEADER_SIZE);
  const file = { hi: ~crc.hi, lo: ~crc.lo };
  const pages: LtxPage[] = [];
  const lock = lockPgno(header.pageSize);
  const frameSize = PAGE_HEADER_SIZE + header.pageSize;
  const shift = crc64Shift(frameSize);
  const view = Buffer.from(body.buffer, body.byteOffset, body.length);
  let off = 0;
  let last = 0;
  for (;;) {
    if (off + PAGE_HEADER_SIZE > body.length) throw new LtxFormatError(`truncated page block: no terminator after page ${last}`);
    const pgno = view.readUInt32BE(off);
    if (pgno === 0) break;
    if (off + frameSize > body.length) throw new LtxFormatError(`truncated page block: page ${pgno} is cut short`);
    checkPageOrder(header, pgno, last, lock);
    pages.push({ pgno, data: body.subarray(off + PAGE_HEADER_SIZE, off + frameSize), hash: hashFrame(body, off, frameSize, file, shift) });
    last = pgno;
    off += frameSize;
  }
  if (off + PAGE_HEADER_SIZE !== body.length) throw new LtxFormatError(`${body.length - off - PAGE_HEADER_SIZE} unexpected bytes after the page block terminator`);
  checkSnapshotEnd(header, last, lock);
  // After the page block: in a truncated file the "trailer" is page bytes, and the page block says so.
  validateTrailer(header, trailer);
  crc.hi = ~file.hi;
  crc.lo = ~file.lo;
  crc64Update(crc, body, off);
  crc64Update(crc, buf, buf.length - TRAILER_SIZE, buf.length - 8);
  const fileChecksum = CHECKSUM_FLAG | crc64Final(crc);
  if (fileChecksum !== trailer.fileChecksum) {
    throw new ChecksumMismatchError(
      `file checksum mismatch: computed ${formatHex64(fileChecksum)}, trailer says ${formatHex64(trailer.fileChecksum)}`,
    );
  }
  if (isSnapshot(header) && options.snapshotChecksum !== false) {
    const sum = new DatabaseChecksum(header.pageSize);
    for (const p of pages) sum.setPage(p.pgno, p.data, p.hash);
    sum.setPageCount(header.commit);
    if (sum.value !== trailer.postApplyChecksum) {
      throw new ChecksumMismatchError(
        `snapshot pages hash to ${formatHex64(sum.value)}, trailer says ${formatHex64(trailer.postApplyChecksum)}`,
      );
    }
  }
  return { header, pages, trailer };
}

/** The rules each page frame must keep: ascending, within the commit, not the lock page, no holes in a snapshot. */
export function checkPageOrder(header: LtxHeader, pgno: number, last: number, lock: number): void {
  if (pgno <= last) throw new LtxFormatError(`page ${pgno} is out of order (after page ${last})`);
  if (pgno > header.commit) throw new LtxFormatError(`page ${pgno} is beyond the commit size of ${header.commit} pages`);
  if (pgno === lock) throw new LtxFormatError(`page ${pgno} is the lock page and must not be present`);
  if (isSnapshot(header)) {
    const expected = last + 1 === lock ? last + 2 : last + 1;
    if (pgno !== expected) throw new LtxFormatError(`snapshot is missing page ${expected}`);
  }
}

/** A snapshot must end with its last page (`last`). */
export function checkSnapshotEnd(header: LtxHeader, last: number, lock: number): void {
  if (isSnapshot(header) && header.commit > 0) {
    const end = header.commit === lock ? header.commit - 1 : header.commit;
    if (last !== end) throw new LtxFormatError(`snapshot ends at page ${last}, expected ${end}`);
  }
}
