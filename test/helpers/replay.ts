import fs from 'node:fs';
import Database from 'better-sqlite3';
import { applyLtx, prepareEmptyReplica, readDatabaseState, type DatabaseState } from '../../src/apply/apply-ltx.ts';
import { decodeLtx } from '../../src/ltx/decoder.ts';
import { LtxLog } from '../../src/log/ltx-log.ts';

/** What replaying a log found. */
export interface ReplayResult {
  checksum: bigint;
  files: number;
  snapshots: number;
  /** TXIDs of single-transaction files, in order. */
  txids: number[];
}

/**
 * Applies every LTX file of `<stateDir>/ltx` in TXID order to a new database at `out` through
 * sqlite_dbpage, checking each file's pre- and post-apply checksums, as a replica would.
 */
export function replayLog(stateDir: string, out: string): ReplayResult {
  const log = new LtxLog(stateDir);
  log.recover();
  let db = new Database(out);
  let state: DatabaseState | undefined;
  const result: ReplayResult = { checksum: 0n, files: 0, snapshots: 0, txids: [] };
  try {
    for (const e of log.entries) {
      const f = decodeLtx(fs.readFileSync(e.path));
      if (state && f.header.minTxid === 1 && f.header.pageSize !== state.pageSize) {
        // A snapshot with a new page size cannot be written over the old pages: start a new file.
        db.close();
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(out + suffix, { force: true });
        db = new Database(out);
        state = undefined;
      }
      if (!state) {
        prepareEmptyReplica(db, f.header.pageSize);
        state = readDatabaseState(db);
      }
      applyLtx(db, f, state);
      result.files++;
      if (f.header.minTxid === 1) result.snapshots++;
      else result.txids.push(f.header.minTxid);
    }
    result.checksum = state?.checksum.value ?? 0n;
  } finally {
    db.close();
  }
  return result;
}
