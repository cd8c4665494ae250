import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DataDirInUseError } from '../errors.ts';
import { isBusy } from '../sqlite/busy.ts';

/**
 * Holds `<data-dir>/lock` for the node's life, so a second node started on the same data-dir (a
 * copied config, a unit started twice) is refused instead of sharing the node id and interleaving
 * the logs. The lock is SQLite's exclusive lock on that file, a POSIX lock: the kernel drops it
 * when the process ends however it ends, so a crashed node leaves no stale lock behind.
 * `<data-dir>/lock.owner` says which process holds it, for the message.
 */
export function lockDataDir(dataDir: string): { release(): void } {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'lock');
  const owner = `${file}.owner`;
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if (!isBusy(err)) throw err;
    let holder = '';
    try {
      holder = ` (pid ${fs.readFileSync(owner, 'utf8').trim()})`;
    } catch {
      // written a moment after the lock is taken
    }
    throw new DataDirInUseError(`data-dir ${path.resolve(dataDir)} is in use by another litefleet node${holder}; each node needs a data-dir of its own`);
  }
  fs.writeFileSync(owner, `${process.pid}\n`);
  return {
    release: () => {
      fs.rmSync(owner, { force: true });
      db.close();
    },
  };
}
