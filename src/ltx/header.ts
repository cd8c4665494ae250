import { LtxFormatError } from '../errors.ts';
import { CHECKSUM_FLAG, EMPTY_DATABASE_CHECKSUM, formatHex64 } from './checksum.ts';

/** Size of the fixed LTX header. */
export const HEADER_SIZE = 100;
/** Size of the trailer: post-apply checksum and file checksum. */
export const TRAILER_SIZE = 16;
/** Size of a page frame's header (the page number). */
export const PAGE_HEADER_SIZE = 4;
/** Header flag: everything between header and trailer is one LZ4 frame. */
export const FLAG_COMPRESS_LZ4 = 0x1;

const MAGIC = 'LTX1';

/** The fixed fields at the start of every LTX file (LiteFS's v1 layout). */
export interface LtxHeader {
  flags: number;
  pageSize: number;
  /** Database size in pages after the file is applied; 0 means the database was deleted. */
  commit: number;
  minTxid: number;
  maxTxid: number;
  /** Milliseconds since the Unix epoch, on the primary's clock. */
  timestamp: number;
  preApplyChecksum: bigint;
  walOffset: number;
  walSize: number;
  walSalt1: number;
  walSalt2: number;
  nodeId: bigint;
}

/** The two checksums at the end of every LTX file. */
export interface LtxTrailer {
  postApplyChecksum: bigint;
  fileChecksum: bigint;
}

/** True when the file holds a full database image (it starts at TXID 1). */
export function isSnapshot(header: Pick<LtxHeader, 'minTxid'>): boolean {
  return header.minTxid === 1;
}

function isValidPageSize(n: number): boolean {
  return n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/** Throws LtxFormatError naming the first rule the header breaks. */
export function validateHeader(h: LtxHeader): void {
  if ((h.flags & ~FLAG_COMPRESS_LZ4) !== 0) throw new LtxFormatError(`unknown header flags 0x${h.flags.toString(16)}`);
  if (!isValidPageSize(h.pageSize)) throw new LtxFormatError(`invalid page size ${h.pageSize}`);
  if (h.minTxid <= 0 || h.maxTxid <= 0) throw new LtxFormatError(`TXIDs must be positive (min ${h.minTxid}, max ${h.maxTxid})`);
  if (h.minTxid > h.maxTxid) throw new LtxFormatError(`min TXID ${h.minTxid} is after max TXID ${h.maxTxid}`);
  if (h.walOffset < 0 || h.walSize < 0) throw new LtxFormatError('WAL offset and size must not be negative');
  if ((h.walSalt1 !== 0 || h.walSalt2 !== 0) && (h.walOffset === 0 || h.walSize === 0)) {
    throw new LtxFormatError('WAL salts are set but WAL offset or size is zero');
  }
  if ((h.walOffset === 0) !== (h.walSize === 0)) throw new LtxFormatError('WAL offset and size must both be zero or both be set');
  if (isSnapshot(h)) {
    if (h.preApplyChecksum !== 0n) throw new LtxFormatError('a snapshot (min TXID 1) must have a zero pre-apply checksum');
  } else if ((h.preApplyChecksum & CHECKSUM_FLAG) === 0n) {
    throw new LtxFormatError(`pre-apply checksum ${formatHex64(h.preApplyChecksum)} lacks the checksum flag`);
  }
}

/** Throws LtxFormatError when the trailer's checksums are absent or inconsistent with the header. */
export function validateTrailer(h: LtxHeader, t: LtxTrailer): void {
  if ((t.postApplyChecksum & CHECKSUM_FLAG) === 0n) {
    throw new LtxFormatError(`post-apply checksum ${formatHex64(t.postApplyChecksum)} lacks the checksum flag`);
  }
  if ((t.fileChecksum & CHECKSUM_FLAG) === 0n) throw new LtxFormatError(`file checksum ${formatHex64(t.fileChecksum)} lacks the checksum flag`);
  if (h.commit === 0 && t.postApplyChecksum !== EMPTY_DATABASE_CHECKSUM) {
    throw new LtxFormatError('a deletion file (commit 0) must have the empty-database post-apply checksum');
  }
}

function checkedNumber(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LtxFormatError(`${field} ${v} is larger than this implementation supports`);
  return Number(v);
}

/** Serialises a header into its 100 bytes (validating it first): at the start of `into` if given, else in a Buffer of its own. */
export function encodeHeader(h: LtxHeader, into?: Buffer): Buffer {
  validateHeader(h);
  const b = into ? into.fill(0, 0, HEADER_SIZE).subarray(0, HEADER_SIZE) : Buffer.alloc(HEADER_SIZE);
  b.write(MAGIC, 0, 'ascii');
  b.writeUInt32BE(h.flags, 4);
  b.writeUInt32BE(h.pageSize, 8);
  b.writeUInt32BE(h.commit, 12);
  b.writeBigUInt64BE(BigInt(h.minTxid), 16);
  b.writeBigUInt64BE(BigInt(h.maxTxid), 24);
  b.writeBigInt64BE(BigInt(h.timestamp), 32);
  b.writeBigUInt64BE(h.preApplyChecksum, 40);
  b.writeBigInt64BE(BigInt(h.walOffset), 48);
  b.writeBigInt64BE(BigInt(h.walSize), 56);
  b.writeUInt32BE(h.walSalt1 >>> 0, 64);
  b.writeUInt32BE(h.walSalt2 >>> 0, 68);
  b.writeBigUInt64BE(h.nodeId, 72);
  return b;
}

/** Parses and validates the first 100 bytes of an LTX file. */
export function decodeHeader(buf: Uint8Array): LtxHeader {
  if (buf.length < HEADER_SIZE) throw new LtxFormatError(`truncated header: ${buf.length} of ${HEADER_SIZE} bytes`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, HEADER_SIZE);
  const magic = b.toString('latin1', 0, 4);
  if (magic !== MAGIC) throw new LtxFormatError(`not an LTX file: magic is ${JSON.stringify(magic)}, expected "LTX1"`);
  const h: LtxHeader = {
    flags: b.readUInt32BE(4),
    pageSize: b.readUInt32BE(8),
    commit: b.readUInt32BE(12),
    minTxid: checkedNumber(b.readBigUInt64BE(16), 'min TXID'),
    maxTxid: checkedNumber(b.readBigUInt64BE(24), 'max TXID'),
    timestamp: Number(b.readBigInt64BE(32)),
    preApplyChecksum: b.readBigUInt64BE(40),
    walOffset: checkedNumber(b.readBigInt64BE(48), 'WAL offset'),
    walSize: checkedNumber(b.readBigInt64BE(56), 'WAL size'),
    walSalt1: b.readUInt32BE(64),
    walSalt2: b.readUInt32BE(68),
    nodeId: b.readBigUInt64BE(72),
  };
  if (b.subarray(80, 100).some((x) => x !== 0)) throw new LtxFormatError('reserved header bytes 80-99 are not zero');
  validateHeader(h);
  return h;
}

/** The fields of a complete LTX file the log needs, read straight from its header and trailer. */
export function headerFields(f: Uint8Array): { minTxid: number; maxTxid: number; timestamp: number; pre: bigint; post: bigint } {
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  if (b.length < HEADER_SIZE + 16) throw new LtxFormatError(`an LTX file of ${b.length} bytes is too short`);
  return {
    minTxid: Number(b.readBigUInt64BE(16)),
    maxTxid: Number(b.readBigUInt64BE(24)),
    timestamp: Number(b.readBigInt64BE(32)),
    pre: b.readBigUInt64BE(40),
    post: b.readBigUInt64BE(b.length - 16),
  };
}
