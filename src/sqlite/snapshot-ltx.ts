import { LtxWriter } from '../ltx/encoder.ts';
import type { SnapshotRead } from './snapshot-read.ts';

/**
 * A consistent read as snapshot LTX 1-N (N its TXID), in the pieces the writer makes, page by
 * page, so a caller can send them as they come. The pages are not hashed: the trailer is the
 * position capture computed, and whoever applies the file checks the pages against it. Its
 * timestamp is `timestamp` (by default now).
 */
export function* snapshotLtx(snap: SnapshotRead, nodeId: bigint, timestamp = Date.now()): Generator<Uint8Array> {
  const pieces: Uint8Array[] = [];
  const header = { flags: 0, pageSize: snap.pageSize, commit: snap.pageCount, minTxid: 1, maxTxid: snap.pos.txid, timestamp, preApplyChecksum: 0n, walOffset: 0, walSize: 0, walSalt1: 0, walSalt2: 0, nodeId };
  const writer = new LtxWriter(header, (c) => pieces.push(c));
  for (const { pgno, data } of snap.pages()) {
    if (pgno > snap.pageCount) break;
    writer.writePage(pgno, data);
    yield* pieces.splice(0);
  }
  writer.finish(snap.pos.checksum);
  yield* pieces.splice(0);
}
