import { readWalIndex } from '../wal/wal-index.ts';
import type { CaptureConnections } from './capture-connections.ts';

const LOCK_SPIN_MS = 50;

/** Where the WAL stands for a reset: frame size, frames capture has read, and the reset threshold in frames. */
interface WalFill {
  shm: number;
  frameSize: number;
  framesBytes: number;
  resetFrames: number;
}

/**
 * Node-owned WAL restart: with the app's write lock held briefly, capture the tail
 * (`captureTail`), checkpoint everything and pin at read-lock 0 so the app's next write starts
 * the WAL over. The log need not be durable first: if power fails before it is, recovery finds it
 * behind the database and takes a new snapshot, so its fsyncs run in the background instead of
 * under the app's lock. True when the WAL was reset; otherwise the pin has moved on.
 */
export function resetWal(conns: CaptureConnections, wal: WalFill, captureTail: () => void): boolean {
  // Far behind a fast writer, the tail would be read under the app's write lock for as long as
  // it takes to log it; catch up first (the WAL grows meanwhile) and reset once close.
  const mxFrame = readWalIndex(wal.shm)?.mxFrame ?? 0;
  if (mxFrame * wal.frameSize - wal.framesBytes > wal.resetFrames * wal.frameSize) {
    conns.repin();
    return false;
  }
  conns.passiveCheckpoint();
  if (!conns.tryLockWrite(LOCK_SPIN_MS)) {
    conns.repin();
    return false;
  }
  try {
    captureTail();
    return conns.checkpointAndRepin();
  } finally {
    conns.unlockWrite();
  }
}
