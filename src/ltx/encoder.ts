import lz4 from 'lz4js';
import { LtxFormatError } from '../errors.ts';
import { CHECKSUM_FLAG, lockPgno } from './checksum.ts';
import { crc64Final, crc64Init, crc64Update } from './crc64.ts';
import { encodeHeader, FLAG_COMPRESS_LZ4, isSnapshot, TRAILER_SIZE, validateTrailer, type LtxHeader } from './header.ts';

/** One page of a transaction. */
export interface LtxPage {
  pgno: number;
  data: Uint8Array;
  /** The page's checksum as its file's decoder computed it (two int32 halves, no flag bit), so appliers need not hash it again. */
  hash?: PageHash;
}

export interface PageHash {
  hi: number;
  lo: number;
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
