import type Database from 'better-sqlite3';

/** A column as the version of the app still running sees it. */
export interface ColumnShape {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  /** Position in the primary key (0: not part of it). */
  pk: number;
  /** Generated columns cannot be written, so a new one never breaks an INSERT. */
  generated: boolean;
}

/** A table: its columns and the rules its rows must keep. */
export interface TableShape {
  name: string;
  columns: Map<string, ColumnShape>;
  /** `(from) -> table(to) ON UPDATE … ON DELETE …`, one per foreign key. */
  foreignKeys: Set<string>;
  /** The text of each CHECK constraint, whitespace collapsed. */
  checks: Set<string>;
  /** Unique indexes and constraints by their column list (`a,b` or `a,b WHERE …`), naming the index. */
  uniques: Map<string, string>;
}

/** What a migration can change that an app depends on: tables, columns and their rules. */
export interface SchemaShape {
  tables: Map<string, TableShape>;
}

interface ColumnRow { name: string; type: string; notnull: number; dflt_value: string | null; pk: number; hidden: number }
interface ForeignKeyRow { id: number; table: string; from: string; to: string | null; on_update: string; on_delete: string }

/** Reads the shape of every table of `db` (SQLite's own and virtual-table shadow tables left out). */
export function readSchemaShape(db: Database.Database): SchemaShape {
  const tables = new Map<string, TableShape>();
  const rows = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all() as Array<{ name: string; sql: string | null }>;
  for (const { name, sql } of rows) {
    const columns = new Map<string, ColumnShape>();
    for (const c of db.prepare('SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)').all(name) as ColumnRow[]) {
      if (c.hidden === 1) continue;
      columns.set(c.name, { name: c.name, type: normalize(c.type).toUpperCase(), notNull: c.notnull === 1, default: c.dflt_value, pk: c.pk, generated: c.hidden >= 2 });
    }
    tables.set(name, { name, columns, foreignKeys: foreignKeys(db, name), checks: checkConstraints(sql ?? ''), uniques: uniqueIndexes(db, name) });
  }
  return { tables };
}

function foreignKeys(db: Database.Database, table: string): Set<string> {
  const byId = new Map<number, ForeignKeyRow[]>();
  for (const r of db.prepare('SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?)').all(table) as ForeignKeyRow[]) {
    byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  }
  return new Set(
    [...byId.values()].map((cols) => {
      const f = cols[0]!;
      return `(${cols.map((c) => c.from).join(', ')}) -> ${f.table}(${cols.map((c) => c.to ?? '').join(', ')}) ON UPDATE ${f.on_update} ON DELETE ${f.on_delete}`;
    }),
  );
}

function uniqueIndexes(db: Database.Database, table: string): Map<string, string> {
  const uniques = new Map<string, string>();
  const indexes = db.prepare('SELECT name, "unique", partial FROM pragma_index_list(?)').all(table) as Array<{ name: string; unique: number; partial: number }>;
  for (const ix of indexes) {
    if (ix.unique !== 1) continue;
    const cols = (db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').all(ix.name) as Array<{ name: string | null }>).map((c) => c.name ?? '<expression>');
    let key = cols.join(',');
    if (ix.partial) {
      const sql = (db.prepare('SELECT sql FROM sqlite_schema WHERE name = ?').get(ix.name) as { sql: string } | undefined)?.sql ?? '';
      key += ` WHERE ${normalize(sql.replace(/^[\s\S]*?\bWHERE\b/i, ''))}`;
    }
    uniques.set(key, ix.name);
  }
  return uniques;
}

/** The CHECK constraints in a CREATE TABLE statement (parentheses balanced, quoted text skipped). */
function checkConstraints(sql: string): Set<string> {
  const checks = new Set<string>();
  const re = /\bCHECK\s*\(/gi;
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    let depth = 1;
    let i = m.index + m[0].length;
    let quote: string | undefined;
    for (; i < sql.length && depth > 0; i++) {
      const ch = sql[i]!;
      if (quote) {
        if (ch === quote) quote = undefined;
      } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
      else if (ch === '(') depth++;
      else if (ch === ')') depth--;
    }
    checks.add(normalize(sql.slice(m.index + m[0].length, i - 1)));
    re.lastIndex = i;
  }
  return checks;
}

function normalize(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
