import { crc64Final, crc64Init, crc64Update, type Crc64State } from './crc64.ts';

/** A page's CRC-64 as two int32 halves, without the flag bit (as a decoder computes it, for the database checksum to reuse). */
export interface PageHash {
  hi: number;
  lo: number;
}

/** Bit 63, forced on in every stored checksum so that zero can mean "absent". */
export const CHECKSUM_FLAG = 1n << 63n;

/** The checksum of a database with no pages. */
export const EMPTY_DATABASE_CHECKSUM = CHECKSUM_FLAG;

/** The page holding SQLite's PENDING byte; it is never written and never counted in checksums. */
export function lockPgno(pageSize: number): number {
  return Math.floor(0x40000000 / pageSize) + 1;
}

// A replica's SQLite rewrites page 1's change counter (24–27), version-valid-for (92–95) and
// library version (96–99) whenever it commits page 1, so those bytes can never agree between
// nodes; they are zeroed before page 1 is hashed, on every node.
const PAGE1_MASKED: ReadonlyArray<readonly [number, number]> = [
  [24, 28],
  [92, 100],
];

const pgnoBytes = new Uint8Array(4);
let page1Scratch = new Uint8Array(0);

/** Feeds the page checksum of (pgno, data) into a fresh register and leaves the raw CRC in `out`. */
function pageCrc(pgno: number, data: Uint8Array): Crc64State {
  const s = crc64Init();
  pgnoBytes[0] = pgno >>> 24;
  pgnoBytes[1] = (pgno >>> 16) & 0xff;
  pgnoBytes[2] = (pgno >>> 8) & 0xff;
  pgnoBytes[3] = pgno & 0xff;
  crc64Update(s, pgnoBytes);
  if (pgno === 1) {
    if (page1Scratch.length !== data.length) page1Scratch = new Uint8Array(data.length);
    page1Scratch.set(data);
    for (const [from, to] of PAGE1_MASKED) page1Scratch.fill(0, from, Math.min(to, data.length));
    crc64Update(s, page1Scratch);
  } else {
    crc64Update(s, data);
  }
  return s;
}

/** FLAG | CRC-64(pgno as 4 big-endian bytes ‖ page), page 1 masked as the design requires. */
export function pageChecksum(pgno: number, data: Uint8Array): bigint {
  return CHECKSUM_FLAG | crc64Final(pageCrc(pgno, data));
}

/** 16 lowercase hex digits, the textual form of TXIDs and checksums. */
export function formatHex64(value: bigint | number): string {
  return BigInt(value).toString(16).padStart(16, '0');
}

/**
 * The checksum of a whole database, kept up to date page by page: XOR of every page checksum.
 * One slot per page (two int32 halves), so a commit costs one CRC per changed page, not a rescan.
 */
export class DatabaseChecksum {
  #hi = new Int32Array(0);
  #lo = new Int32Array(0);
  #pages = 0;
  #xhi = 0;
  #xlo = 0;
  /** Highest page given to setPage since the last setPageCount, so truncation knows how far to clear. */
  #highestWritten = 0;
  /** While a change is open (begin): slot, old hi, old lo, for every slot written, to roll back. */
  #undo: number[] | undefined;
  #undoState: { pages: number; xhi: number; xlo: number; highestWritten: number } | undefined;
  readonly #lockPgno: number;

  constructor(readonly pageSize: number) {
    this.#lockPgno = lockPgno(pageSize);
  }

  /** Number of pages the database has. */
  get pageCount(): number {
    return this.#pages;
  }

  /** The database checksum with the flag bit set. */
  get value(): bigint {
    return CHECKSUM_FLAG | (BigInt(this.#xhi >>> 0) << 32n) | BigInt(this.#xlo >>> 0);
  }

  /** Records a new image of one page (`hash`: its checksum, when a decoder already computed it). */
  setPage(pgno: number, data: Uint8Array, hash?: PageHash): void {
    if (pgno === this.#lockPgno) return;
    if (pgno > this.#hi.length) this.#reserve(pgno);
    if (pgno > this.#highestWritten) this.#highestWritten = pgno;
    let hi: number;
    let lo: number;
    // Page 1 is hashed masked, which a hash of the bytes as stored is not.
    if (hash && pgno !== 1) {
      hi = hash.hi;
      lo = hash.lo;
    } else {
      const s = pageCrc(pgno, data);
      hi = ~s.hi;
      lo = ~s.lo;
    }
    const i = pgno - 1;
    this.#undo?.push(i, this.#hi[i]!, this.#lo[i]!);
    this.#xhi ^= this.#hi[i]! ^ hi;
    this.#xlo ^= this.#lo[i]! ^ lo;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
  }

  /**
   * Sets the page count after a commit (call it after the commit's `setPage` calls): pages past it
   * leave the checksum, and pages the database grew by without writing them count as zero pages.
   */
  setPageCount(commit: number): void {
    if (commit > this.#hi.length) this.#reserve(commit);
    let zero: Uint8Array | undefined;
    for (let p = this.#pages + 1; p <= commit; p++) {
      if (p !== this.#lockPgno && this.#hi[p - 1] === 0 && this.#lo[p - 1] === 0) {
        zero ??= new Uint8Array(this.pageSize);
        this.setPage(p, zero);
      }
    }
    const top = Math.max(this.#pages, this.#highestWritten);
    this.#highestWritten = 0;
    for (let p = commit + 1; p <= top; p++) {
      this.#undo?.push(p - 1, this.#hi[p - 1]!, this.#lo[p - 1]!);
      this.#xhi ^= this.#hi[p - 1]!;
      this.#xlo ^= this.#lo[p - 1]!;
      this.#hi[p - 1] = 0;
      this.#lo[p - 1] = 0;
    }
    this.#pages = commit;
  }

  /**
   * Starts a change that rollback() can undo: a replica updates its checksum in place as it writes
   * a transaction's pages (copying it would cost a pass over every page of a large database for
   * each apply) and undoes the change if the transaction does not commit.
   */
  begin(): void {
    this.#undo = [];
    this.#undoState = { pages: this.#pages, xhi: this.#xhi, xlo: this.#xlo, highestWritten: this.#highestWritten };
  }

  /** Keeps the change begun with begin(). */
  commit(): void {
    this.#undo = undefined;
    this.#undoState = undefined;
  }

  /** Undoes everything since begin(). */
  rollback(): void {
    const undo = this.#undo;
    const st = this.#undoState;
    this.commit();
    if (!undo || !st) return;
    for (let k = undo.length - 3; k >= 0; k -= 3) {
      this.#hi[undo[k]!] = undo[k + 1]!;
      this.#lo[undo[k]!] = undo[k + 2]!;
    }
    this.#pages = st.pages;
    this.#xhi = st.xhi;
    this.#xlo = st.xlo;
    this.#highestWritten = st.highestWritten;
  }

  #reserve(pages: number): void {
    const cap = Math.max(pages, this.#hi.length * 2, 64);
    const hi = new Int32Array(cap);
    const lo = new Int32Array(cap);
    hi.set(this.#hi);
    lo.set(this.#lo);
    this.#hi = hi;
    this.#lo = lo;
  }
}
