import fs from 'node:fs';

/**
 * How many POSIX locks process `pid` holds on the database file and on its `-shm` (from
 * /proc/locks, by inode). SQLite keeps its locks there: a process that closed any descriptor of
 * the file lost them all.
 */
export function heldLocks(pid: number, dbPath: string): { db: number; shm: number } {
  const inode = (file: string) => {
    try {
      return fs.statSync(file).ino;
    } catch {
      return -1;
    }
  };
  const db = inode(dbPath);
  const shm = inode(`${dbPath}-shm`);
  let onDb = 0;
  let onShm = 0;
  for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters are prefixed "->")
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'POSIX' || Number(f[4]) !== pid) continue;
    const ino = Number(f[5]?.split(':')[2]);
    if (ino === db) onDb++;
    if (ino === shm) onShm++;
  }
  return { db: onDb, shm: onShm };
}
