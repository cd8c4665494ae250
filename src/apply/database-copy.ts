import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { fsyncDir } from '../log/fsync.ts';
import { databasePages } from '../sqlite/pages.ts';

/**
 * Copies the database `db` holds as it is, page by page, into `<log dir>/discarded/` before a
 * snapshot overwrites it: never a database replaced without a way back. Read inside the write
 * transaction the replica holds, so the copy is consistent and no app write slips in meanwhile.
 * Returns the copy's path.
 */
export function saveDatabaseCopy(db: Database.Database, geometry: { pageSize: number; pageCount: number }, logDir: string, name: string): string {
  const dir = path.join(logDir, 'discarded');
  fs.mkdirSync(dir, { recursive: true });
  const copy = path.join(dir, `${name}.${new Date().toISOString().replace(/[:.]/g, '-')}.db`);
  const { pageSize, pageCount } = geometry;
  const fd = fs.openSync(`${copy}.tmp`, 'w');
  try {
    for (const { pgno, data } of databasePages(db)) {
      if (pgno > pageCount) break;
      if (pgno === 1) {
        // A plain rollback-journal database: the copy opens on its own, without a WAL.
        data[18] = 1;
        data[19] = 1;
      }
      fs.writeSync(fd, data, 0, data.length, (pgno - 1) * pageSize);
    }
    fs.ftruncateSync(fd, pageCount * pageSize);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(`${copy}.tmp`, copy);
  fsyncDir(dir);
  return copy;
}
