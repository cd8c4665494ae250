/**
 * SQL text the studio builds: quoted identifiers and literals for the row edits it sends to the
 * primary as a script (the exec path takes SQL text, not bound parameters), so every value a user
 * typed or a row held must become a literal that reads back as exactly that value.
 */

/** A value as a row holds it (better-sqlite3 with safe integers) or as an edit supplies it. */
export type SqlValue = null | bigint | number | string | Uint8Array;

/** `name` as a quoted SQL identifier (any name, `"` doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `v` as an SQL literal of the same storage class: INTEGER, REAL, TEXT, BLOB or NULL. */
export function sqlLiteral(v: SqlValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    // SQLite stores NaN as NULL, and reads an overflowing literal as ±Inf.
    if (Number.isNaN(v)) return 'NULL';
    if (!Number.isFinite(v)) return v > 0 ? '9e999' : '-9e999';
    // Shortest text that reads back as the same double; `.0` keeps an integral value a REAL.
    const s = String(v);
    return /[.eE]/.test(s) ? s : `${s}.0`;
  }
  if (typeof v === 'string') {
    // SQLite stops reading SQL text at a NUL, so such text travels as bytes.
    if (v.includes('\0')) return `CAST(X'${Buffer.from(v, 'utf8').toString('hex')}' AS TEXT)`;
    return `'${v.replaceAll("'", "''")}'`;
  }
  return `X'${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}'`;
}

/** Which row an edit is for: its rowid (by a name the table does not shadow) or its primary key's columns. */
export interface RowKey {
  columns: string[];
  values: SqlValue[];
}

function whereKey(key: RowKey): string {
  if (key.columns.length === 0 || key.columns.length !== key.values.length) throw new Error('a row key needs one value per key column');
  return key.columns.map((c, i) => `${keyExpr(c)} = ${sqlLiteral(key.values[i]!)}`).join(' AND ');
}

/** The rowid's names are written bare (quoting `rowid` would name a column); anything else is quoted. */
export function keyExpr(column: string): string {
  return ROWID_NAMES.includes(column) ? column : quoteIdent(column);
}

/** The names SQLite accepts for a rowid, in the order the studio prefers them. */
export const ROWID_NAMES = ['rowid', 'oid', '_rowid_'];

/** `UPDATE` of the given columns of one row. */
export function updateRowSql(table: string, key: RowKey, values: Record<string, SqlValue>): string {
  const sets = Object.entries(values).map(([c, v]) => `${quoteIdent(c)} = ${sqlLiteral(v)}`);
  if (sets.length === 0) throw new Error('nothing to change');
  return `UPDATE ${quoteIdent(table)} SET ${sets.join(', ')} WHERE ${whereKey(key)};`;
}

/** `INSERT` of one row (`DEFAULT VALUES` when no column is given). */
export function insertRowSql(table: string, values: Record<string, SqlValue>): string {
  const cols = Object.keys(values);
  if (cols.length === 0) return `INSERT INTO ${quoteIdent(table)} DEFAULT VALUES;`;
  return `INSERT INTO ${quoteIdent(table)} (${cols.map(quoteIdent).join(', ')}) VALUES (${cols.map((c) => sqlLiteral(values[c]!)).join(', ')});`;
}

/** `DELETE` of one row. */
export function deleteRowSql(table: string, key: RowKey): string {
  return `DELETE FROM ${quoteIdent(table)} WHERE ${whereKey(key)};`;
}
