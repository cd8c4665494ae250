import fs from 'node:fs';
import Database from 'better-sqlite3';
import { applyLtx, readDatabaseState } from '../../src/sqlite/apply-ltx.ts';
import { readSegmentFile, segmentFilesIn } from '../../src/log/segment-files.ts';
import { decodeLtx } from '../../src/ltx/decoder.ts';

/** What replaying a log found. */
export interface ReplayResult {
  checksum: bigint;
  files: number;
  /** TXIDs of single-transaction files, in order. */
  txids: number[];
}

/**
 * Copies `base` (the database as it was at the log's start) to `out` and applies every LTX file
 * of the log in `<stateDir>` in order through sqlite_dbpage, checking each file's pre- and
 * post-apply checksums, as a replica would. Reads the segment files as any LTX reader would,
 * without the node's index.
 */
export function replayLog(stateDir: string, base: string, out: string): ReplayResult {
  fs.copyFileSync(base, out);
  const db = new Database(out);
  db.unsafeMode(true);
  db.pragma('journal_mode = WAL');
  const result: ReplayResult = { checksum: 0n, files: 0, txids: [] };
  try {
    const state = readDatabaseState(db);
    for (const seg of segmentFilesIn(stateDir)) {
      const { files, torn } = readSegmentFile(seg);
      if (torn) throw new Error(`${seg} ends with ${torn} bytes that are no whole LTX file`);
      for (const bytes of files) {
        const f = decodeLtx(bytes);
        applyLtx(db, f, state);
        result.files++;
        result.txids.push(f.header.minTxid);
      }
    }
    result.checksum = state.checksum.value;
  } finally {
    db.close();
  }
  return result;
}
