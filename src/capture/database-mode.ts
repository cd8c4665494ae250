import fs from 'node:fs';
import type { Logger } from 'pino';
import { UnsupportedDatabaseStateError } from '../errors.ts';
import type { CaptureConnections } from './capture-connections.ts';

/**
 * Switches the database to WAL mode when it is not (capture follows the WAL); refuses one that
 * will not switch, and warns when a database that has a log was switched away while the node was
 * down.
 */
export function switchToWal(conns: CaptureConnections, name: string, logged: boolean, logger: Logger): void {
  const mode = conns.ensureWal();
  if (mode.now !== 'wal') throw new UnsupportedDatabaseStateError(`database ${name} could not be switched to WAL mode (journal_mode is ${mode.now})`);
  if (mode.was !== 'wal' && logged) {
    logger.warn({ db: name }, `database ${name} was switched to journal_mode=${mode.was} while the node was down; switched it back to WAL`);
  }
}

/**
 * Reads the database header for changes capture cannot follow: a switch away from WAL or a page
 * size other than `pageSize` (when known). Says what changed, or undefined.
 */
export function modeChange(name: string, dbFd: number, pageSize: number | undefined): string | undefined {
  const header = Buffer.alloc(100);
  fs.readSync(dbFd, header, 0, 100, 0);
  const raw = header.readUInt16BE(16);
  const now = raw === 1 ? 65536 : raw;
  const wal = header[18] === 2 && header[19] === 2;
  if (wal && (pageSize === undefined || now === pageSize)) return undefined;
  return !wal
    ? `database ${name} left WAL mode (an app ran PRAGMA journal_mode=DELETE?); switching it back to WAL`
    : `database ${name} changed its page size from ${pageSize} to ${now}`;
}

/** The database stayed write-locked for `ms`: an app holding it in exclusive locking mode shuts capture out for good. */
export function lockedError(name: string, ms: number): UnsupportedDatabaseStateError {
  return new UnsupportedDatabaseStateError(
    `database ${name} stayed locked for ${ms / 1000}s: is an app using PRAGMA locking_mode=EXCLUSIVE? litefleet cannot follow such a database`,
  );
}
