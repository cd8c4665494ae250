import fs from 'node:fs';
import { ChecksumMismatchError, LtxFormatError } from '../errors.ts';
import { CHECKSUM_FLAG, formatHex64, lockPgno } from './checksum.ts';
import { crc64Final, crc64Init, crc64Shift, crc64Update } from './crc64.ts';
import { checkPageOrder, checkSnapshotEnd, hashFrame } from './decoder.ts';
import type { LtxPage } from './encoder.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE, validateTrailer, type LtxHeader, type LtxTrailer } from './header.ts';

/** An LTX file read page by page: its pages can be used as they come, the trailer once they are all read. */
export interface LtxSource {
  readonly header: LtxHeader;
  readonly pages: Iterable<LtxPage>;
  readonly trailer: LtxTrailer;
}

const BLOCK_PAGES = 256;

/**
 * Reads an uncompressed LTX file from disk in blocks, so a snapshot of any size needs no more
 * memory than a block. Every rule of decodeLtx is checked as the pages go by; the file checksum
 * can only be checked at the end, so iterating `pages` throws there if it does not match, and a
 * caller must not keep what it did with the pages until the iteration has finished.
 */
export function readLtxFile(file: string): LtxSource {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const head = Buffer.alloc(HEADER_SIZE);
  if (size < HEADER_SIZE + PAGE_HEADER_SIZE + TRAILER_SIZE || fs.readSync(fd, head, 0, HEADER_SIZE, 0) !== HEADER_SIZE) {
    fs.closeSync(fd);
    throw new LtxFormatError(`truncated file: ${size} bytes is too short for an LTX file`);
  }
  const header = decodeHeader(head);
  if (header.flags & FLAG_COMPRESS_LZ4) {
    fs.closeSync(fd);
    throw new LtxFormatError('compressed LTX files are read whole (decodeLtx)');
  }
  let trailer: LtxTrailer | undefined;
  function* pages(): Generator<LtxPage> {
    try {
      const crc = crc64Init();
      crc64Update(crc, head);
      // Finished form, for hashFrame; back to a register for the terminator and trailer.
      const file = { hi: ~crc.hi, lo: ~crc.lo };
      const lock = lockPgno(header.pageSize);
      const frame = PAGE_HEADER_SIZE + header.pageSize;
      const shift = crc64Shift(frame);
      const bodyEnd = size - TRAILER_SIZE;
      let off = HEADER_SIZE;
      let last = 0;
      for (;;) {
        // Fresh blocks: the pages handed out are views into them and may be kept by the caller.
        const len = Math.min(BLOCK_PAGES * frame, bodyEnd - off);
        if (len < PAGE_HEADER_SIZE) throw new LtxFormatError(`truncated page block: no terminator after page ${last}`);
        const block = Buffer.allocUnsafe(len);
        if (fs.readSync(fd, block, 0, len, off) !== len) throw new LtxFormatError(`file ended early at byte ${off}`);
        let at = 0;
        let done = false;
        while (at + PAGE_HEADER_SIZE <= len) {
          const pgno = block.readUInt32BE(at);
          if (pgno === 0) {
            at += PAGE_HEADER_SIZE;
            done = true;
            break;
          }
          if (at + frame > len) break;
          checkPageOrder(header, pgno, last, lock);
          last = pgno;
          yield { pgno, data: block.subarray(at + PAGE_HEADER_SIZE, at + frame), hash: hashFrame(block, at, frame, file, shift) };
          at += frame;
        }
        if (at === 0) throw new LtxFormatError(`truncated page block: page after ${last} is cut short`);
        if (done) {
          crc.hi = ~file.hi;
          crc.lo = ~file.lo;
          crc64Update(crc, block, at - PAGE_HEADER_SIZE, at);
        }
        off += at;
        if (done) break;
      }
      if (off !== bodyEnd) throw new LtxFormatError(`${bodyEnd - off} unexpected bytes after the page block terminator`);
      checkSnapshotEnd(header, last, lock);
      const tail = Buffer.alloc(TRAILER_SIZE);
      fs.readSync(fd, tail, 0, TRAILER_SIZE, bodyEnd);
      const t = { postApplyChecksum: tail.readBigUInt64BE(0), fileChecksum: tail.readBigUInt64BE(8) };
      validateTrailer(header, t);
      crc64Update(crc, tail, 0, 8);
      const computed = CHECKSUM_FLAG | crc64Final(crc);
      if (computed !== t.fileChecksum) {
        throw new ChecksumMismatchError(`file checksum mismatch: computed ${formatHex64(computed)}, trailer says ${formatHex64(t.fileChecksum)}`);
      }
      trailer = t;
    } finally {
      fs.closeSync(fd);
    }
  }
  return {
    header,
    pages: { [Symbol.iterator]: pages },
    get trailer(): LtxTrailer {
      if (!trailer) throw new LtxFormatError('the trailer is known only after every page was read');
      return trailer;
    },
  };
}
