import { readWalIndex } from '../wal/wal-index.ts';
import { WAL_FRAME_HEADER_SIZE } from '../wal/wal-reader.ts';
import type { CaptureConnections } from './capture-connections.ts';
import type { TransactionLogger } from './transaction-logger.ts';

const LOCK_SPIN_MS = 50;

/**
 * Node-owned WAL restart: with the app's write lock held briefly, capture the tail (logged by
 * `t`), checkpoint everything and pin at read-lock 0 so the app's next write starts
 * the WAL over. The log need not be durable first: if power fails before it is, recovery finds it
 * behind the database and takes a new snapshot, so its fsyncs run in the background instead of
 * under the app's lock. True when the WAL was reset; otherwise the pin has moved on.
 */
export function resetWal(conns: CaptureConnections, t: TransactionLogger, shm: number, resetFrames: number): boolean {
  const frameSize = WAL_FRAME_HEADER_SIZE + t.checksum!.pageSize;
  // Far behind a fast writer, the tail would be read under the app's write lock for as long as
  // it takes to log it; catch up first (the WAL grows meanwhile) and reset once close.
  const mxFrame = readWalIndex(shm)?.mxFrame ?? 0;
  if (mxFrame * frameSize - t.reader.framesBytes > resetFrames * frameSize) {
    conns.repin();
    return false;
  }
  conns.passiveCheckpoint();
  if (!conns.tryLockWrite(LOCK_SPIN_MS)) {
    conns.repin();
    return false;
  }
  try {
    if (t.poll().gap) throw new Error('WAL restarted while the write lock was held');
    return conns.checkpointAndRepin();
  } finally {
    conns.unlockWrite();
  }
}
