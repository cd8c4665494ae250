import { ChecksumMismatchError, LtxFormatError } from '../errors.ts';
import { CHECKSUM_FLAG, formatHex64, lockPgno } from './checksum.ts';
import { crc64Final, crc64Init, crc64Shift, crc64Update, hashFrame, type Crc64Shift, type Crc64State } from './crc64.ts';
import { checkPageOrder, checkSnapshotEnd } from './decoder.ts';
import type { LtxPage } from './encoder.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE, validateTrailer, type LtxHeader, type LtxTrailer } from './header.ts';

/**
 * Decodes an uncompressed LTX file as it arrives in pieces of any size, so a large backup object
 * can be applied while the rest is still being read. Every rule of decodeLtx is checked as pages
 * go by and each page comes with its hash; the file checksum is known only at `end()`, so a caller
 * must not keep what it did with the pages unless `end()` returns.
 */
export class LtxStreamDecoder {
  #header: LtxHeader | undefined;
  #headBytes: Buffer = Buffer.alloc(0);
  /** The start of a frame cut by the end of the last piece. */
  #pending: Buffer | undefined;
  /** What came after the terminator: the trailer. */
  #tail: Buffer[] = [];
  #done = false;
  #last = 0;
  #file: Crc64State = { hi: 0, lo: 0 };
  /** The file's CRC register once the terminator is hashed. */
  #register: Crc64State | undefined;
  #shift: Crc64Shift | undefined;
  #frameSize = 0;
  #lock = 0;

  /** The header, once the first 100 bytes have arrived. */
  get header(): LtxHeader | undefined {
    return this.#header;
  }

  /** Takes the next piece; returns the pages it completed, in order, each checked and hashed. */
  push(piece: Uint8Array): LtxPage[] {
    let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    if (!this.#header) {
      this.#headBytes = this.#headBytes.length === 0 ? buf : Buffer.concat([this.#headBytes, buf]);
      if (this.#headBytes.length < HEADER_SIZE) return [];
      this.#start(this.#headBytes.subarray(0, HEADER_SIZE));
      buf = this.#headBytes.subarray(HEADER_SIZE);
    }
    const pages: LtxPage[] = [];
    if (this.#pending && !this.#done) {
      // Complete the cut frame with just the bytes it lacks (a terminator needs only its 4).
      const joined = Buffer.concat([this.#pending, buf.subarray(0, this.#frameSize - this.#pending.length)]);
      const used = this.#frames(joined, pages);
      if (used === 0 && !this.#done) {
        this.#pending = joined;
        return pages;
      }
      const fromBuf = used - this.#pending.length;
      this.#pending = undefined;
      buf = buf.subarray(fromBuf);
    }
    if (this.#done) {
      this.#tail.push(buf);
      return pages;
    }
    const used = this.#frames(buf, pages);
    if (this.#done) this.#tail.push(buf.subarray(used));
    else if (used < buf.length) this.#pending = Buffer.from(buf.subarray(used));
    return pages;
  }

  /** Checks the end of the file (terminator, trailer, file checksum) and returns header and trailer. */
  end(): { header: LtxHeader; trailer: LtxTrailer } {
    const header = this.#header;
    if (!header) throw new LtxFormatError(`truncated file: ${this.#headBytes.length} bytes is too short for an LTX file`);
    if (!this.#done) throw new LtxFormatError(`truncated page block: no terminator after page ${this.#last}`);
    const tail = Buffer.concat(this.#tail);
    if (tail.length !== TRAILER_SIZE) throw new LtxFormatError(`${tail.length - TRAILER_SIZE} unexpected bytes after the page block terminator`);
    checkSnapshotEnd(header, this.#last, this.#lock);
    const trailer = { postApplyChecksum: tail.readBigUInt64BE(0), fileChecksum: tail.readBigUInt64BE(8) };
    validateTrailer(header, trailer);
    crc64Update(this.#register!, tail, 0, 8);
    const computed = CHECKSUM_FLAG | crc64Final(this.#register!);
    if (computed !== trailer.fileChecksum) throw new ChecksumMismatchError(`file checksum mismatch: computed ${formatHex64(computed)}, trailer says ${formatHex64(trailer.fileChecksum)}`);
    return { header, trailer };
  }

  #start(head: Buffer): void {
    const header = decodeHeader(head);
    if (header.flags & FLAG_COMPRESS_LZ4) throw new LtxFormatError('compressed LTX files are read whole (decodeLtx)');
    this.#header = header;
    const crc = crc64Init();
    crc64Update(crc, head);
    this.#file = { hi: ~crc.hi, lo: ~crc.lo };
    this.#frameSize = PAGE_HEADER_SIZE + header.pageSize;
    this.#shift = crc64Shift(this.#frameSize);
    this.#lock = lockPgno(header.pageSize);
  }

  /** Decodes the whole frames of `buf` into `pages`; returns where it stopped (after the terminator, if it came). */
  #frames(buf: Buffer, pages: LtxPage[]): number {
    const header = this.#header!;
    const size = this.#frameSize;
    let off = 0;
    while (off + PAGE_HEADER_SIZE <= buf.length) {
      const pgno = buf.readUInt32BE(off);
      if (pgno === 0) {
        this.#register = { hi: ~this.#file.hi, lo: ~this.#file.lo };
        crc64Update(this.#register, buf, off, off + PAGE_HEADER_SIZE);
        this.#done = true;
        return off + PAGE_HEADER_SIZE;
      }
      if (off + size > buf.length) break;
      checkPageOrder(header, pgno, this.#last, this.#lock);
      pages.push({ pgno, data: buf.subarray(off + PAGE_HEADER_SIZE, off + size), hash: hashFrame(buf, off, size, this.#file, this.#shift!) });
      this.#last = pgno;
      off += size;
    }
    return off;
  }
}
