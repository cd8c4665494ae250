import fs from 'node:fs';

// The -shm file begins with two copies of the 48-byte WalIndexHdr, then WalCkptInfo whose first
// field, nBackfill, counts the WAL frames already copied back into the database file. It is in
// the machine's byte order, little-endian on every platform Node runs litefleet on.
const BACKFILL_OFFSET = 96;
const IS_INIT_OFFSET = 12;

/** Frames already checkpointed into the database file, or undefined if the index is absent or not initialised. */
export function readBackfill(shmPath: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(shmPath, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(BACKFILL_OFFSET + 4);
    if (fs.readSync(fd, buf, 0, buf.length, 0) < buf.length) return undefined;
    if (buf[IS_INIT_OFFSET] !== 1) return undefined;
    return buf.readUInt32LE(BACKFILL_OFFSET);
  } finally {
    fs.closeSync(fd);
  }
}
