import type { Pos } from '../ltx/position.ts';

/** Emitted as 'commit' when a database moves to a new position (captured, or applied on a replica). */
export interface CommitEvent {
  name: string;
  txid: number;
  checksum: bigint;
  /** The position before it: a replica there can be sent `ltx` as it is. */
  pre: Pos;
  pageSize: number;
  timestamp: number;
  /** The database was snapshotted (capture) or replaced by a snapshot (apply). */
  snapshot: boolean;
  /** The transaction's LTX file as logged (capture only): streamed and shipped without reading it back. */
  ltx?: Buffer;
}
