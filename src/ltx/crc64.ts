// CRC-64 with the ISO polynomial exactly as Go's hash/crc64 computes it with crc64.ISO
// (reflected, init and final xor all ones), which is what LTX checksums use. JavaScript has no
// fast 64-bit integers, so the register is kept as two int32 halves and bytes are consumed
// eight at a time (slicing-by-8); BigInt would be two orders of magnitude slower on the hot path.

const POLY_HI = 0xd8000000 | 0;
const TABLES = 8;
const T_HI = new Int32Array(256 * TABLES);
const T_LO = new Int32Array(256 * TABLES);

for (let n = 0; n < 256; n++) {
  let hi = 0;
  let lo = n;
  for (let k = 0; k < 8; k++) {
    const carry = lo & 1;
    lo = (lo >>> 1) | ((hi & 1) << 31);
    hi = hi >>> 1;
    if (carry) hi ^= POLY_HI;
  }
  T_HI[n] = hi;
  T_LO[n] = lo;
}
for (let t = 1; t < TABLES; t++) {
  for (let n = 0; n < 256; n++) {
    const phi = T_HI[(t - 1) * 256 + n]!;
    const plo = T_LO[(t - 1) * 256 + n]!;
    const idx = plo & 0xff;
    T_HI[t * 256 + n] = (phi >>> 8) ^ T_HI[idx]!;
    T_LO[t * 256 + n] = ((plo >>> 8) | (phi << 24)) ^ T_LO[idx]!;
  }
}

/** A running CRC-64 register. Start with `crc64Init()`, feed bytes with `crc64Update`, read with `crc64Final`. */
export interface Crc64State {
  hi: number;
  lo: number;
}

/** A fresh register (all ones, as Go's crc64.Update begins). */
export function crc64Init(): Crc64State {
  return { hi: -1, lo: -1 };
}

/** Feeds `data[start, end)` into the register. */
export function crc64Update(state: Crc64State, data: Uint8Array, start = 0, end = data.length): void {
  let hi = state.hi;
  let lo = state.lo;
  let i = start;
  // Aligned input is read as little-endian words through an Int32Array view (x86 and arm64 are
  // little-endian), which is about twice as fast as assembling words from bytes.
  const head = (4 - ((data.byteOffset + i) & 3)) & 3;
  for (const stop = Math.min(end, i + head); i < stop; i++) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ T_LO[idx]!;
    hi = (hi >>> 8) ^ T_HI[idx]!;
  }
  const nwords = ((end - i) >>> 2) & ~1;
  const words = nwords > 0 ? new Int32Array(data.buffer, data.byteOffset + i, nwords) : new Int32Array(0);
  for (let w = 0; w < nwords; w += 2) {
    const xl = lo ^ words[w]!;
    const xh = hi ^ words[w + 1]!;
    const a = 1792 + (xl & 0xff);
    const b = 1536 + ((xl >>> 8) & 0xff);
    const c = 1280 + ((xl >>> 16) & 0xff);
    const d = 1024 + (xl >>> 24);
    const e = 768 + (xh & 0xff);
    const f = 512 + ((xh >>> 8) & 0xff);
    const g = 256 + ((xh >>> 16) & 0xff);
    const h = xh >>> 24;
    hi = T_HI[a]! ^ T_HI[b]! ^ T_HI[c]! ^ T_HI[d]! ^ T_HI[e]! ^ T_HI[f]! ^ T_HI[g]! ^ T_HI[h]!;
    lo = T_LO[a]! ^ T_LO[b]! ^ T_LO[c]! ^ T_LO[d]! ^ T_LO[e]! ^ T_LO[f]! ^ T_LO[g]! ^ T_LO[h]!;
  }
  i += nwords * 4;
  for (; i < end; i++) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ T_LO[idx]!;
    hi = (hi >>> 8) ^ T_HI[idx]!;
  }
  state.hi = hi;
  state.lo = lo;
}

/** The CRC of everything fed so far, as an unsigned 64-bit BigInt. */
export function crc64Final(state: Crc64State): bigint {
  return (BigInt(~state.hi >>> 0) << 32n) | BigInt(~state.lo >>> 0);
}

/** CRC-64/GO-ISO of one buffer. */
export function crc64(data: Uint8Array): bigint {
  const s = crc64Init();
  crc64Update(s, data);
  return crc64Final(s);
}

/**
 * What feeding `len` zero bytes does to a raw register: a linear map, kept as eight 256-entry
 * tables (one per byte of the register) so applying it costs eight lookups.
 */
export interface Crc64Shift {
  hi: Int32Array;
  lo: Int32Array;
}

const shifts = new Map<number, Crc64Shift>();

/** The shift for `len` bytes (built once per length: 64 CRCs of `len` zero bytes). */
export function crc64Shift(len: number): Crc64Shift {
  let shift = shifts.get(len);
  if (shift) return shift;
  const zeros = new Uint8Array(len);
  const colHi = new Int32Array(64);
  const colLo = new Int32Array(64);
  for (let bit = 0; bit < 64; bit++) {
    const s = bit < 32 ? { hi: 0, lo: 1 << bit } : { hi: 1 << (bit - 32), lo: 0 };
    crc64Update(s, zeros);
    colHi[bit] = s.hi;
    colLo[bit] = s.lo;
  }
  shift = { hi: new Int32Array(8 * 256), lo: new Int32Array(8 * 256) };
  for (let k = 0; k < 8; k++) {
    for (let b = 0; b < 256; b++) {
      let hi = 0;
      let lo = 0;
      for (let j = 0; j < 8; j++) {
        if (b & (1 << j)) {
          hi ^= colHi[k * 8 + j]!;
          lo ^= colLo[k * 8 + j]!;
        }
      }
      shift.hi[k * 256 + b] = hi;
      shift.lo[k * 256 + b] = lo;
    }
  }
  shifts.set(len, shift);
  return shift;
}

/**
 * Turns `a`, the finished CRC of some bytes A, into the finished CRC of A followed by bytes B,
 * given B's finished CRC `b` and the shift for B's length: CRC(A‖B) = shift(CRC(A)) ^ CRC(B).
 * This lets a file checksum be assembled from per-page CRCs, so pages are hashed once.
 */
export function crc64Combine(a: Crc64State, b: Crc64State, shift: Crc64Shift): void {
  const { hi: H, lo: L } = shift;
  const x = a.lo;
  const y = a.hi;
  const i0 = x & 0xff;
  const i1 = 256 + ((x >>> 8) & 0xff);
  const i2 = 512 + ((x >>> 16) & 0xff);
  const i3 = 768 + (x >>> 24);
  const i4 = 1024 + (y & 0xff);
  const i5 = 1280 + ((y >>> 8) & 0xff);
  const i6 = 1536 + ((y >>> 16) & 0xff);
  const i7 = 1792 + (y >>> 24);
  a.hi = H[i0]! ^ H[i1]! ^ H[i2]! ^ H[i3]! ^ H[i4]! ^ H[i5]! ^ H[i6]! ^ H[i7]! ^ b.hi;
  a.lo = L[i0]! ^ L[i1]! ^ L[i2]! ^ L[i3]! ^ L[i4]! ^ L[i5]! ^ L[i6]! ^ L[i7]! ^ b.lo;
}

/**
 * Hashes the `len` bytes at `off` (an LTX page frame: page number and page, exactly what a page
 * checksum covers), folds that CRC into `file` (the running, finished CRC of the file so far) and
 * returns it: each frame is hashed once, for both the file checksum and the page's own.
 */
export function hashFrame(buf: Uint8Array, off: number, len: number, file: Crc64State, shift: Crc64Shift): Crc64State {
  const frame = crc64Init();
  crc64Update(frame, buf, off, off + len);
  frame.hi = ~frame.hi;
  frame.lo = ~frame.lo;
  crc64Combine(file, frame, shift);
  return frame;
}
