import fs from 'node:fs';
import path from 'node:path';
import { ChecksumMismatchError } from '../errors.ts';
import { DatabaseChecksum, formatHex64 } from '../ltx/checksum.ts';
import type { LtxSource } from '../ltx/file-reader.ts';
import { fsyncDir } from '../log/fsync.ts';
import { writePagesToFile, type DatabaseState } from '../sqlite/apply-ltx.ts';

/**
 * A database this node does not have yet is written straight from the snapshot's pages into a
 * new file at `target`, fsynced and renamed into place: no reader can have it open, so nothing
 * needs SQLite's atomicity, and the pages are written once instead of to the WAL and again back.
 * Returns the new database's state; `name` is for the error when the pages do not verify.
 */
export function writeNewDatabase(target: string, file: LtxSource, name: string): DatabaseState {
  const h = file.header;
  const tmp = `${target}.litefleet-new`;
  const sum = new DatabaseChecksum(h.pageSize);
  const fd = fs.openSync(tmp, 'w');
  try {
    writePagesToFile(fd, file.pages, h.pageSize, sum);
    sum.setPageCount(h.commit);
    if (sum.value !== file.trailer.postApplyChecksum) {
      throw new ChecksumMismatchError(`snapshot of ${name} hashes to ${formatHex64(sum.value)}, but the file says ${formatHex64(file.trailer.postApplyChecksum)}`);
    }
    fs.ftruncateSync(fd, h.commit * h.pageSize);
    fs.fdatasyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  // Leftovers of an earlier database of this name would be read as this one's WAL.
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${target}${suffix}`, { force: true });
  fs.renameSync(tmp, target);
  fsyncDir(path.dirname(target));
  return { pageSize: h.pageSize, pageCount: h.commit, checksum: sum };
}
