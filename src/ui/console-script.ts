import type Database from 'better-sqlite3';
import { splitStatements } from '../sql/statements.ts';
import { toWire, type PreviewLimits, type WireValue } from './wire-value.ts';
import { InvalidRequestError } from '../errors.ts';

/** Most rows the console shows of one statement. */
export const CONSOLE_MAX_ROWS = 1_000;
/** Most bytes of values (as previews) the console returns for a whole script. */
export const CONSOLE_MAX_BYTES = 4 * 1024 * 1024;
const CONSOLE_PREVIEW: PreviewLimits = { textChars: 2_000, blobBytes: 64 };

/** One read statement's result as the console grid shows it. */
export interface ConsoleResult {
  sql: string;
  columns: string[];
  rows: WireValue[][];
  /** More rows (or bytes) than the limits were there; the grid shows the first ones. */
  truncated: boolean;
  ms: number;
}

/** A script of reads runs here (its results); anything else goes to the primary whole, as one transaction. */
export type ConsoleOutcome = { kind: 'rows'; results: ConsoleResult[] } | { kind: 'write' };

/**
 * Runs a console script on this node's read-only connection if every statement only reads
 * (better-sqlite3's `reader`, which SQLite decides when it prepares the statement); otherwise
 * runs nothing and says it is a write. Errors are SQLite's own messages.
 */
export function runConsoleScript(db: Database.Database, sql: string): ConsoleOutcome {
  const texts = splitStatements(sql).filter((s) => s.trim() !== '');
  if (texts.length === 0) throw new InvalidRequestError('there is no statement to run');
  const statements = texts.map((text) => {
    try {
      return { text, stmt: db.prepare(text) };
    } catch (err) {
      throw new InvalidRequestError((err as Error).message);
    }
  });
  if (statements.some((s) => !s.stmt.reader)) return { kind: 'write' };
  let budget = CONSOLE_MAX_BYTES;
  const results = statements.map(({ text, stmt }) => {
    const started = performance.now();
    const rows: WireValue[][] = [];
    let truncated = false;
    try {
      for (const row of stmt.raw(true).iterate() as IterableIterator<unknown[]>) {
        if (rows.length >= CONSOLE_MAX_ROWS || budget <= 0) {
          truncated = true;
          break;
        }
        const values = row.map((v) => toWire(v, CONSOLE_PREVIEW));
        budget -= JSON.stringify(values).length;
        rows.push(values);
      }
    } catch (err) {
      throw new InvalidRequestError((err as Error).message);
    }
    return { sql: text, columns: stmt.columns().map((c) => c.name), rows, truncated, ms: performance.now() - started };
  });
  return { kind: 'rows', results };
}
