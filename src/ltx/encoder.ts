import lz4 from 'lz4js';
import { LtxFormatError } from '../errors.ts';
import { CHECKSUM_FLAG, lockPgno, type PageHash } from './checksum.ts';
import { crc64Final, crc64Init, crc64Shift, crc64Update, hashFrame } from './crc64.ts';
import { encodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, isSnapshot, PAGE_HEADER_SIZE, TRAILER_SIZE, validateTrailer, type LtxHeader } from './header.ts';

/** One page of a transaction. */
export interface LtxPage {
  pgno: number;
  data: Uint8Array;
  /** The page's checksum as its file's decoder computed it (two int32 halves, no flag bit), so appliers need not hash it again. */
  hash?: PageHash;
}

/**
 * Writes one LTX file page by page, enforcing the format's rules as it goes, so a snapshot of a
 * large database never has to sit in memory uncompressed. Bytes go to `sink` in order.
 */
export class LtxWriter {
  readonly #header: LtxHeader;
  readonly #sink: (chunk: Uint8Array) => void;
  readonly #crc = crc64Init();
  readonly #compressed: Uint8Array[] | undefined;
  readonly #lockPgno: number;
  #lastPgno = 0;
  #finished = false;

  constructor(header: LtxHeader, sink: (chunk: Uint8Array) => void) {
    this.#header = header;
    this.#sink = sink;
    this.#lockPgno = lockPgno(header.pageSize);
    this.#compressed = header.flags & FLAG_COMPRESS_LZ4 ? [] : undefined;
    const hb = encodeHeader(header);
    crc64Update(this.#crc, hb);
    sink(hb);
  }

  /** Appends a page; pages must come in ascending order and, in a snapshot, without holes. */
  writePage(pgno: number, data: Uint8Array): void {
    const h = this.#header;
    if (this.#finished) throw new LtxFormatError('page written after the file was finished');
    if (!Number.isInteger(pgno) || pgno <= 0) throw new LtxFormatError(`invalid page number ${pgno}`);
    if (pgno > h.commit) throw new LtxFormatError(`page ${pgno} is beyond the commit size of ${h.commit} pages`);
    if (pgno <= this.#lastPgno) throw new LtxFormatError(`page ${pgno} is out of order (after page ${this.#lastPgno})`);
    if (pgno === this.#lockPgno) throw new LtxFormatError(`page ${pgno} is the lock page and is never written`);
    if (data.length !== h.pageSize) throw new LtxFormatError(`page ${pgno} has ${data.length} bytes, expected ${h.pageSize}`);
    if (isSnapshot(h)) {
      const expected = this.#lastPgno + 1 === this.#lockPgno ? this.#lastPgno + 2 : this.#lastPgno + 1;
      if (pgno !== expected) throw new LtxFormatError(`snapshot is missing page ${expected}`);
    }
    this.#lastPgno = pgno;
    const ph = Buffer.alloc(4);
    ph.writeUInt32BE(pgno);
    this.#body(ph);
    this.#body(data);
  }

  /** Writes the terminator and the trailer; returns the file checksum. */
  finish(postApplyChecksum: bigint): bigint {
    const h = this.#header;
    if (isSnapshot(h) && h.commit > 0) {
      const last = h.commit === this.#lockPgno ? h.commit - 1 : h.commit;
      if (this.#lastPgno !== last) throw new LtxFormatError(`snapshot ends at page ${this.#lastPgno}, expected ${last}`);
    }
    this.#body(Buffer.alloc(4));
    if (this.#compressed) this.#sink(lz4.compress(Buffer.concat(this.#compressed)));
    const trailer = Buffer.alloc(TRAILER_SIZE);
    trailer.writeBigUInt64BE(postApplyChecksum, 0);
    crc64Update(this.#crc, trailer, 0, 8);
    const fileChecksum = CHECKSUM_FLAG | crc64Final(this.#crc);
    trailer.writeBigUInt64BE(fileChecksum, 8);
    validateTrailer(h, { postApplyChecksum, fileChecksum });
    this.#sink(trailer);
    this.#finished = true;
    return fileChecksum;
  }

  #body(chunk: Uint8Array): void {
    crc64Update(this.#crc, chunk);
    if (this.#compressed) this.#compressed.push(chunk);
    else this.#sink(chunk);
  }
}

/** Encodes a whole LTX file in memory. `pages` must be sorted by page number. */
export function encodeLtx(header: LtxHeader, pages: Iterable<LtxPage>, postApplyChecksum: bigint): Buffer {
  const chunks: Uint8Array[] = [];
  const w = new LtxWriter(header, (c) => chunks.push(c));
  for (const p of pages) w.writePage(p.pgno, p.data);
  w.finish(postApplyChecksum);
  return Buffer.concat(chunks);
}

/** Bytes of an uncompressed transaction file of `pages` pages of `pageSize` bytes. */
export function transactionFileSize(pages: number, pageSize: number): number {
  return HEADER_SIZE + pages * (PAGE_HEADER_SIZE + pageSize) + PAGE_HEADER_SIZE + TRAILER_SIZE;
}

/**
 * Encodes one transaction's uncompressed LTX file in a single pass over its pages: each page frame
 * is hashed once, that hash goes to `onPage` (the database checksum reuses it) and into the file
 * checksum; `postApply` is asked for the database checksum once every page has been seen. Capture
 * logs every commit this way (hashing each page twice cost a third of its CPU flat out). With
 * `into` (when large enough) the file is written at its start and is a view of it.
 */
export function encodeTransaction(header: LtxHeader, pages: readonly LtxPage[], onPage: (page: LtxPage, hash: PageHash) => void, postApply: () => bigint, into?: Buffer): Buffer {
  if (header.flags & FLAG_COMPRESS_LZ4 || isSnapshot(header)) throw new LtxFormatError('encodeTransaction writes uncompressed transaction files only');
  const frameSize = PAGE_HEADER_SIZE + header.pageSize;
  const size = transactionFileSize(pages.length, header.pageSize);
  const buf = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  encodeHeader(header, buf);
  const crc = crc64Init();
  crc64Update(crc, buf, 0, HEADER_SIZE);
  const file = { hi: ~crc.hi, lo: ~crc.lo };
  const shift = crc64Shift(frameSize);
  const lock = lockPgno(header.pageSize);
  let off = HEADER_SIZE;
  let last = 0;
  for (const p of pages) {
    if (p.pgno <= last || p.pgno > header.commit || p.pgno === lock || p.data.length !== header.pageSize) {
      throw new LtxFormatError(`page ${p.pgno} (${p.data.length} bytes) cannot follow page ${last} in a file of ${header.commit} pages of ${header.pageSize} bytes`);
    }
    buf.writeUInt32BE(p.pgno, off);
    buf.set(p.data, off + PAGE_HEADER_SIZE);
    onPage(p, hashFrame(buf, off, frameSize, file, shift));
    last = p.pgno;
    off += frameSize;
  }
  buf.writeUInt32BE(0, off);
  const post = postApply();
  buf.writeBigUInt64BE(post, off + PAGE_HEADER_SIZE);
  crc.hi = ~file.hi;
  crc.lo = ~file.lo;
  crc64Update(crc, buf, off, off + PAGE_HEADER_SIZE + 8);
  const fileChecksum = CHECKSUM_FLAG | crc64Final(crc);
  validateTrailer(header, { postApplyChecksum: post, fileChecksum });
  buf.writeBigUInt64BE(fileChecksum, off + PAGE_HEADER_SIZE + 8);
  return buf;
}
