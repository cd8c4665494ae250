import Database from 'better-sqlite3';
import type { DatabaseCapture } from '../capture/database-capture.ts';
import { retryBusyAsync } from '../sqlite/busy.ts';
import { reachesOutside, splitStatements, transactionControl } from './statements.ts';
import { InvalidRequestError } from '../errors.ts';

/** What running a script on the primary did. */
export interface ExecResult {
  /** The TXID of the transaction the script committed (or the position it left, if it changed nothing). */
  txid: number;
  changes: number;
  statements: number;
}

// How long exec waits for an app's write transaction to end before it answers busy.
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Runs an SQL script on the primary's database as one transaction and captures it at once, so
 * the caller learns its TXID. A script's own BEGIN/COMMIT (a `.dump` has them) are folded into
 * that transaction; ROLLBACK is refused, and so is anything that reaches past the named database
 * (ATTACH, DETACH, VACUUM INTO: the node's API must not open other files on its disk). Any error
 * rolls everything back. While an app holds the write lock, exec waits for it with timers, not in
 * SQLite's busy handler, which would stop the node's event loop (lease renewal, /health, the
 * stream) for as long; after BUSY_TIMEOUT_MS it answers BusyError.
 */
export async function execScript(dbPath: string, sql: string, capture: DatabaseCapture): Promise<ExecResult> {
  const statements = splitStatements(sql).filter((s) => {
    const t = transactionControl(s);
    if (t === 'rollback') throw new InvalidRequestError('the script contains ROLLBACK; it runs as one transaction, which is rolled back on any error anyway');
    const outside = reachesOutside(s);
    if (outside) throw new InvalidRequestError(`the script contains ${outside}, which would reach past the database it is sent to; nothing was changed`);
    return t === undefined;
  });
  const db = new Database(dbPath, { timeout: 0, fileMustExist: true });
  let changes = 0;
  try {
    await retryBusyAsync(BUSY_TIMEOUT_MS, 'exec', () => db.exec('BEGIN IMMEDIATE'));
    try {
      statements.forEach((text, i) => {
        try {
          const stmt = db.prepare(text);
          if (stmt.reader) stmt.all();
          else changes += stmt.run().changes;
        } catch (err) {
          throw new InvalidRequestError(`statement ${i + 1} failed (${(err as Error).message}): ${text.slice(0, 200)}; nothing was changed`);
        }
      });
      db.exec('COMMIT');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  } finally {
    db.close();
  }
  return { txid: capture.catchUp().txid, changes, statements: statements.length };
}
