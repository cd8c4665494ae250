import fs from 'node:fs';

/** Size of the WAL file header. */
export const WAL_HEADER_SIZE = 32;
/** Size of each frame's header. */
export const WAL_FRAME_HEADER_SIZE = 24;

const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;
// How much of the WAL one read of a backlog takes (more only for a transaction larger than this).
const READ_BYTES = 256 * 1024;
// How often the path is looked up again, in case the -wal file was replaced (a new inode). SQLite
// deletes a WAL only when its last connection closes, and capture keeps two open, so a look per
// pass (a statx at every commit) would almost never find anything.
const REOPEN_CHECK_MS = 50;
const WAL_VERSION = 3007000;

/** The fields of a WAL header that identify its generation. */
export interface WalHeader {
  pageSize: number;
  checkpointSeq: number;
  salt1: number;
  salt2: number;
  bigEndianChecksum: boolean;
  /** Checksum words of the header, where the frame checksum chain starts. */
  s0: number;
  s1: number;
}

/** One committed transaction found in the WAL: the last image of each page it wrote. */
export interface WalTransaction {
  pages: Map<number, Uint8Array>;
  /** Database size in pages after the commit. */
  commit: number;
  /** Byte offset of the transaction's first frame, and the bytes its frames span. */
  offset: number;
  size: number;
  salt1: number;
  salt2: number;
}

/** Where a reader stands: just past a commit frame, with the checksum chain up to there. */
export interface WalCursor {
  salt1: number;
  salt2: number;
  checkpointSeq: number;
  offset: number;
  s0: number;
  s1: number;
}

/** What one poll found. `restarted` counts WAL restarts passed; `gap` means frames may have been missed. */
export interface WalPollResult {
  transactions: WalTransaction[];
  restarted: number;
  gap: boolean;
  /** True when the byte budget ran out before the end of the WAL: poll again for the rest. */
  more: boolean;
}

/** Computes SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from s0/s1. */
export function walChecksum(data: Uint8Array, bigEndian: boolean, s0: number, s1: number): [number, number] {
  let a = s0 | 0;
  let b = s1 | 0;
  if (!bigEndian && (data.byteOffset & 3) === 0) {
    const w = new Int32Array(data.buffer, data.byteOffset, data.length >>> 2);
    for (let i = 0; i < w.length; i += 2) {
      a = (a + w[i]! + b) | 0;
      b = (b + w[i + 1]! + a) | 0;
    }
  } else {
    const v = new DataView(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < data.length; i += 8) {
      a = (a + v.getInt32(i, !bigEndian) + b) | 0;
      b = (b + v.getInt32(i + 4, !bigEndian) + a) | 0;
    }
  }
  return [a >>> 0, b >>> 0];
}

/**
 * Parses a WAL header; undefined when it is missing, short or fails its own checksum (an empty or
 * fresh WAL), or is one SQLite would not read either (another format version, a page size that is
 * not a power of two from 512 to 65536).
 */
export function parseWalHeader(buf: Uint8Array): WalHeader | undefined {
  if (buf.length < WAL_HEADER_SIZE) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, WAL_HEADER_SIZE);
  const magic = v.getUint32(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return undefined;
  // The WAL header holds the page size as it is (65536 too, unlike the database header's 1).
  const pageSize = v.getUint32(8);
  if (v.getUint32(4) !== WAL_VERSION || pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const bigEndianChecksum = magic === MAGIC_BE;
  const [s0, s1] = walChecksum(buf.subarray(0, 24), bigEndianChecksum, 0, 0);
  if (s0 !== v.getUint32(24) || s1 !== v.getUint32(28)) return undefined;
  return {
    pageSize,
    checkpointSeq: v.getUint32(12),
    salt1: v.getUint32(16),
    salt2: v.getUint32(20),
    bigEndianChecksum,
    s0,
    s1,
  };
}

/**
 * Follows a database's `-wal` file from outside SQLite, returning each transaction once its commit
 * frame is on disk and the checksum chain through it holds. A torn, in-progress or rolled-back
 * transaction is never returned: the reader only advances past commit frames.
 */
export class WalReader {
  readonly path: string;
  #cursor: WalCursor | undefined;
  #fd: number | undefined;
  #ino = -1;
  #checkedAt = -Infinity;
  #header: WalHeader | undefined;
  readonly #headerBuf = Buffer.alloc(WAL_HEADER_SIZE);
  /** Bytes the last poll took: the next one starts with a read about twice that (see #readFrames). */
  #lastTaken = 0;
  /**
   * The buffer every read of up to READ_BYTES goes into. A fresh one per pass cost the primary
   * 256 KB of native memory per capture pass (30 MB/s at a few hundred commits a second), which
   * glibc kept as resident heap; what a pass returns is copied out of it at the size it is.
   */
  #scratch: Buffer | undefined;

  constructor(walPath: string) {
    this.path = walPath;
  }

  /** The reader's position; undefined until it has seen a WAL header. */
  get cursor(): WalCursor | undefined {
    return this.#cursor ? { ...this.#cursor } : undefined;
  }

  /** Page size from the last header read. */
  get pageSize(): number | undefined {
    return this.#header?.pageSize;
  }

  /** Bytes of frames written after the cursor's generation began (how full the WAL is). */
  get framesBytes(): number {
    return this.#cursor ? this.#cursor.offset - WAL_HEADER_SIZE : 0;
  }

  /** Places the reader at `cursor` (from a previous run). */
  seek(cursor: WalCursor | undefined): void {
    this.#cursor = cursor ? { ...cursor } : undefined;
  }

  /** Reads the current header (undefined if the WAL is empty or being rewritten). */
  readHeader(): WalHeader | undefined {
    const fd = this.#open();
    if (fd === undefined) return undefined;
    const n = fs.readSync(fd, this.#headerBuf, 0, WAL_HEADER_SIZE, 0);
    const h = parseWalHeader(this.#headerBuf.subarray(0, n));
    if (h) this.#header = h;
    return h;
  }

  /**
   * Reads the transactions committed after the cursor, stopping after the first whole transaction
   * that takes it past `budget` bytes (so a long backlog is taken in slices that leave the event
   * loop free in between).
   */
  poll(budget = Infinity): WalPollResult {
    const result: WalPollResult = { transactions: [], restarted: 0, gap: false, more: false };
    const known = this.#header;
    const c = this.#cursor;
    // Commits found after the cursor, in its generation, show the WAL was not restarted: SQLite
    // restarts it only once every frame is copied back, and capture's pin holds that back until
    // it has read them. So the header (a read of its own) is looked at only when none are found.
    const sameGeneration = c !== undefined && known !== undefined && c.salt1 === known.salt1 && c.salt2 === known.salt2;
    if (sameGeneration && this.#open() !== undefined) {
      this.#readFrames(known, result, budget);
      if (result.transactions.length > 0 || result.more) return result;
    }
    const h = this.readHeader();
    if (!h) return result;
    if (!c || c.salt1 !== h.salt1 || c.salt2 !== h.salt2) {
      if (c) {
        // SQLite restarts a WAL by adding one to salt1, kept in the shared wal-index; any other jump
        // means whole generations went by unseen. The checkpoint sequence cannot tell: each
        // connection counts its own restarts, so a restart by another process may even lower it.
        if (h.salt1 === ((c.salt1 + 1) >>> 0)) result.restarted = 1;
        else result.gap = true;
      }
      this.#cursor = { salt1: h.salt1, salt2: h.salt2, checkpointSeq: h.checkpointSeq, offset: WAL_HEADER_SIZE, s0: h.s0, s1: h.s1 };
    } else if (sameGeneration) {
      return result;
    }
    this.#readFrames(h, result, budget);
    return result;
  }

  /** Releases the file descriptor and the read buffer. */
  close(): void {
    if (this.#fd !== undefined) fs.closeSync(this.#fd);
    this.#fd = undefined;
    this.#ino = -1;
    this.#scratch = undefined;
  }

  #open(): number | undefined {
    const now = performance.now();
    if (this.#fd !== undefined && now - this.#checkedAt < REOPEN_CHECK_MS) return this.#fd;
    this.#checkedAt = now;
    let st: fs.Stats;
    try {
      st = fs.statSync(this.path);
    } catch {
      this.close();
      return undefined;
    }
    if (this.#fd === undefined || st.ino !== this.#ino) {
      this.close();
      try {
        this.#fd = fs.openSync(this.path, 'r');
      } catch {
        return undefined;
      }
      this.#ino = fs.fstatSync(this.#fd).ino;
    }
    return this.#fd;
  }

  #readFrames(h: WalHeader, result: WalPollResult, budget: number): void {
    const fd = this.#fd!;
    const cur = this.#cursor!;
    const frameSize = WAL_FRAME_HEADER_SIZE + h.pageSize;
    const start = cur.offset;
    // SQLite never shrinks the WAL: past the new frames lie the old generation's, up to the file's
    // end. The first read takes about twice what the last poll found (at 1000 commits a second, a
    // frame or two: a 256 KB read each pass was most of capture's reading), and stops where the
    // new frames do; a backlog is read on in larger slices, and only a transaction larger than
    // one doubles the read.
    let want = Math.min(READ_BYTES, budget, Math.max(2 * this.#lastTaken, 4 * frameSize));
    try {
      for (;;) {
        if (cur.offset - start >= budget) {
          result.more = true;
          return;
        }
        const len = Math.max(want - (want % frameSize), frameSize);
        const buf = len <= READ_BYTES ? (this.#scratch ??= Buffer.allocUnsafeSlow(READ_BYTES)) : Buffer.allocUnsafeSlow(len);
        const n = fs.readSync(fd, buf, 0, len, cur.offset);
        const before = cur.offset;
        const found = result.transactions.length;
        const valid = this.#parse(h, buf.subarray(0, n - (n % frameSize)), result);
        if (buf === this.#scratch) keepPages(result.transactions.slice(found), buf, cur.offset - before);
        // A short read is the end of the file.
        if (!valid || n < len) return;
        // Read on from the end of the last whole transaction; one larger than the read needs a larger one.
        want = cur.offset === before ? len * 2 : READ_BYTES;
      }
    } finally {
      this.#lastTaken = cur.offset - start;
    }
  }

  /** Parses frames in `buf` (which starts at the cursor); false when it stopped at an invalid frame. */
  #parse(h: WalHeader, buf: Buffer, result: WalPollResult): boolean {
    const cur = this.#cursor!;
    const frameSize = WAL_FRAME_HEADER_SIZE + h.pageSize;
    const base = cur.offset;
    let s0 = cur.s0;
    let s1 = cur.s1;
    let pages = new Map<number, Uint8Array>();
    let txStart = 0;
    let valid = true;
    for (let off = 0; off + frameSize <= buf.length; off += frameSize) {
      const pgno = buf.readUInt32BE(off);
      const commit = buf.readUInt32BE(off + 4);
      if (buf.readUInt32BE(off + 8) !== h.salt1 || buf.readUInt32BE(off + 12) !== h.salt2 || pgno === 0) {
        valid = false;
        break;
      }
      [s0, s1] = walChecksum(buf.subarray(off, off + 8), h.bigEndianChecksum, s0, s1);
      [s0, s1] = walChecksum(buf.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize), h.bigEndianChecksum, s0, s1);
      if (s0 !== buf.readUInt32BE(off + 16) || s1 !== buf.readUInt32BE(off + 20)) {
        valid = false;
        break;
      }
      pages.set(pgno, buf.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize));
      if (commit !== 0) {
        const end = off + frameSize;
        result.transactions.push({ pages, commit, offset: base + txStart, size: end - txStart, salt1: h.salt1, salt2: h.salt2 });
        pages = new Map();
        txStart = end;
        cur.offset = base + end;
        cur.s0 = s0;
        cur.s1 = s1;
      }
    }
    return valid;
  }
}

/**
 * Gives the transactions parsed from the first `used` bytes of the reused read buffer `buf` a copy
 * of those bytes of their own, so their pages outlive the next read and hold only what they need.
 */
function keepPages(txs: WalTransaction[], buf: Buffer, used: number): void {
  if (txs.length === 0) return;
  const own = Buffer.allocUnsafeSlow(used);
  buf.copy(own, 0, 0, used);
  for (const tx of txs) {
    for (const [pgno, page] of tx.pages) tx.pages.set(pgno, own.subarray(page.byteOffset - buf.byteOffset, page.byteOffset - buf.byteOffset + page.length));
  }
}
