import fs from 'node:fs';
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, type WalCursor } from './wal-reader.ts';

// The -shm file begins with two copies of the 48-byte WalIndexHdr (mxFrame, the last valid frame,
// at offset 16), then WalCkptInfo whose first field, nBackfill, counts the WAL frames already
// copied back into the database file. Both are in the machine's byte order, little-endian on
// every platform Node runs litefleet on.
const MX_FRAME_OFFSET = 16;
// aFrameCksum: the checksum chain's value after frame mxFrame (native order, like mxFrame).
const FRAME_CKSUM_OFFSET = 24;
// aSalt: the WAL header's salts, as the bytes stand there (so read big-endian, as the header is).
const SALT_OFFSET = 32;
const BACKFILL_OFFSET = 96;
const IS_INIT_OFFSET = 12;

/** What the WAL index says about the WAL. */
export interface WalIndexState {
  /** Frames in the WAL that belong to committed transactions. */
  mxFrame: number;
  /** Frames already checkpointed into the database file. */
  backfill: number;
  /** The checksum chain after frame mxFrame, where the next frame's continues. */
  s0: number;
  s1: number;
  /** The salts of the WAL generation mxFrame counts in. */
  salt1: number;
  salt2: number;
}

/**
 * Reads the WAL index header through `fd`, or undefined if the index is not initialised. The fd
 * must stay open while SQLite connections of this process use the database: closing any fd of a
 * file drops every POSIX lock the process holds on it, SQLite's read and write locks included.
 */
export function readWalIndex(fd: number): WalIndexState | undefined {
  const buf = Buffer.alloc(BACKFILL_OFFSET + 4);
  if (fs.readSync(fd, buf, 0, buf.length, 0) < buf.length) return undefined;
  if (buf[IS_INIT_OFFSET] !== 1) return undefined;
  return { mxFrame: buf.readUInt32LE(MX_FRAME_OFFSET), backfill: buf.readUInt32LE(BACKFILL_OFFSET),
    s0: buf.readUInt32LE(FRAME_CKSUM_OFFSET),
    s1: buf.readUInt32LE(FRAME_CKSUM_OFFSET + 4),
    salt1: buf.readUInt32BE(SALT_OFFSET), salt2: buf.readUInt32BE(SALT_OFFSET + 4) };
}

/**
 * Bytes of frames the index counts as committed past `cursor` in the cursor's WAL generation (0:
 * the reader is at the index's end; below 0 while the index has yet to count frames the reader
 * took); undefined when either is unknown or they are of different generations.
 */
export function unreadBytes(index: WalIndexState | undefined, cursor: WalCursor | undefined, pageSize: number): number | undefined {
  if (!index || !cursor || index.salt1 !== cursor.salt1 || index.salt2 !== cursor.salt2) return undefined;
  return WAL_HEADER_SIZE + index.mxFrame * (WAL_FRAME_HEADER_SIZE + pageSize) - cursor.offset;
}
