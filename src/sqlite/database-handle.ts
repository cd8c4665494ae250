import type { SegmentLog } from '../log/segment-log.ts';

/**
 * Descriptors of the database file and its `-shm`, opened once and closed only when no SQLite
 * connection of this process has the database open any more: closing any descriptor of a file
 * releases every POSIX lock the process holds on it, SQLite's included (a replica's write lock, the
 * SHARED lock that keeps the last connection from deleting the WAL).
 */
export interface DbFiles {
  db: number;
  shm: number;
}

/**
 * What capture and apply use of the database they work on (the store's DB): where it lives, its
 * log, and the descriptors kept for its locks.
 */
export interface DatabaseHandle {
  readonly name: string;
  readonly path: string;
  readonly log: SegmentLog;
  /** The kept descriptors (see DbFiles); capture opens them when it starts. */
  readonly files: DbFiles;
  openFiles(): void;
  /** Closes the kept descriptors once no connection of this process has the database open. */
  releaseFilesAfterClose(): void;
  /** Records that `what` (capture, apply) failed and will be retried: logged once, shown in /info and /health. */
  reportProblem(what: string, err: unknown): void;
  /** `what` works again (logged if it had failed). */
  clearProblem(what: string): void;
}
