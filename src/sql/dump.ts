import type Database from 'better-sqlite3';

/** What to dump. */
export interface DumpOptions {
  /** Only the INSERTs (as the sqlite3 CLI's `.dump --data-only`). */
  dataOnly?: boolean;
  /** Only this table's definition and rows (as `.dump TABLE`). */
  table?: string;
}

interface SchemaRow {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** A table name as the sqlite3 CLI writes it in INSERTs: bare when it is a plain identifier. */
function quoteName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * Writes `db` as SQL the way the sqlite3 CLI's `.dump` does (same statements, same order, values
 * quoted as it quotes them; reals in their shortest exact form), so either tool's output loads
 * with the other into the same database.
 */
export function* dumpDatabase(db: Database.Database, o: DumpOptions = {}): Generator<string> {
  const schema = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY tbl_name = 'sqlite_sequence', rowid").all() as SchemaRow[];
  const tables = schema.filter((r) => r.type === 'table' && (o.table === undefined || r.name === o.table) && r.sql && (!r.name.startsWith('sqlite_') || r.name === 'sqlite_sequence'));
  if (o.table !== undefined && tables.length === 0) throw new Error(`no such table: ${o.table}`);
  if (!o.dataOnly) yield 'PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n';
  for (const t of tables) {
    if (t.name === 'sqlite_sequence') {
      if (!o.dataOnly) yield 'DELETE FROM sqlite_sequence;\n';
    } else if (!o.dataOnly) {
      yield `${t.sql};\n`;
    }
    // quote() for every value but blobs (lower-case hex, as the CLI writes them) and reals
    // (formatted below so they read back exactly).
    const cols = (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(t.name) as string[]).map((c) => {
      const col = `"${c.replace(/"/g, '""')}"`;
      return `CASE typeof(${col}) WHEN 'blob' THEN 'X''' || lower(hex(${col})) || '''' WHEN 'real' THEN ${col} ELSE quote(${col}) END`;
    });
    const rows = db.prepare(`SELECT ${cols.join(', ')} FROM "${t.name.replace(/"/g, '""')}"`).raw();
    for (const values of rows.iterate() as Iterable<Array<string | number>>) {
      yield `INSERT INTO ${quoteName(t.name)} VALUES(${values.map((v) => (typeof v === 'number' ? formatReal(v) : v)).join(',')});\n`;
    }
  }
  if (o.dataOnly) return;
  if (o.table === undefined) for (const r of schema) if (r.type !== 'table' && r.sql) yield `${r.sql};\n`;
  yield 'COMMIT;\n';
}

/**
 * A REAL as SQL text that reads back as exactly the same double: the shortest such form, with a
 * decimal point as the CLI writes one. (The CLI prints 20 significant digits, `0.1` as
 * `0.10000000000000000555`; both read back as the same value, and its last digits depend on the
 * SQLite version, so they are not copied.)
 */
export function formatReal(x: number): string {
  if (Number.isNaN(x)) return 'NULL';
  if (!Number.isFinite(x)) return x > 0 ? '1e999' : '-1e999';
  const s = String(x);
  if (s.includes('.')) return s;
  return s.includes('e') ? s.replace('e', '.0e') : `${s}.0`;
}
