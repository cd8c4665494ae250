import type Database from 'better-sqlite3';
import { keyExpr, quoteIdent, ROWID_NAMES, type SqlValue } from './sql-text.ts';
import { FULL, fromWire, toWire, type PreviewLimits, type WireValue } from './wire-value.ts';
import { InvalidRequestError, NotFoundError } from '../errors.ts';

/** Counting stops here, so a table of any size is listed at once; beyond it the list says "≥" and estimates. */
export const COUNT_CAP = 100_000;
/** Most rows one page carries. */
export const MAX_PAGE_ROWS = 500;
/** A page's values are previews: long text and blobs are cut to this much. */
export const PAGE_PREVIEW: PreviewLimits = { textChars: 200, blobBytes: 16 };
/** The row being edited carries its values whole, up to these sizes. */
export const ROW_LIMITS: PreviewLimits = { textChars: 1_000_000, blobBytes: 256 * 1024 };

/** A table's row count: exact up to COUNT_CAP; beyond it `atLeast` and, for rowid tables, max(rowid) as an estimate. */
export interface RowCount {
  count: number;
  atLeast: boolean;
  estimate?: number;
}

/** One entry of a database's table list. */
export interface TableEntry {
  name: string;
  type: 'table' | 'view';
  rows: RowCount | null;
}

/** A column as `pragma table_xinfo` describes it. */
export interface ColumnInfo {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  pk: number;
  generated: boolean;
}

/** What the data browser needs to know of a table: its columns, the key that pages and edits it, its schema. */
export interface TableShape {
  name: string;
  type: 'table' | 'view';
  /** `rowid` (or another name for it the table does not shadow), the primary key's columns (WITHOUT ROWID), or none (a view). */
  key: string[];
  withoutRowid: boolean;
  columns: ColumnInfo[];
  /** CREATE statements: the table's, then its indexes' and triggers'. */
  schema: string[];
}

/** A filter on one column; values are bound, never spliced into the SQL. */
export interface Filter {
  column: string;
  op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'contains' | 'starts' | 'null' | 'notnull';
  value?: string;
}

/** Which page: sorted by a column (then the key), filtered, after a cursor from the previous page. */
export interface RowQuery {
  sort?: string;
  desc?: boolean;
  filters?: Filter[];
  cursor?: string;
  limit?: number;
}

/** One page of rows: each row's key (whole values) and its values (previews), and the cursor of the next page. */
export interface RowPage {
  columns: string[];
  rows: Array<{ key: WireValue[]; values: WireValue[] }>;
  next: string | null;
}

/** Every table and view of the database, with bounded row counts. */
export function listTables(db: Database.Database): TableEntry[] {
  const objects = db.prepare("SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as Array<{ name: string; type: 'table' | 'view' }>;
  return objects.map((o) => ({ ...o, rows: o.type === 'table' ? countRows(db, describeTable(db, o.name)) : null }));
}

/** Counts up to COUNT_CAP rows; a larger rowid table gets max(rowid) as its estimate (exact unless rows were deleted). */
export function countRows(db: Database.Database, shape: TableShape): RowCount {
  const t = quoteIdent(shape.name);
  const n = Number(db.prepare(`SELECT count(*) FROM (SELECT 1 FROM ${t} LIMIT ${COUNT_CAP + 1})`).pluck().get());
  if (n <= COUNT_CAP) return { count: n, atLeast: false };
  const rowid = shape.withoutRowid ? undefined : shape.key[0];
  const estimate = rowid ? Number(db.prepare(`SELECT max(${rowid}) FROM ${t}`).pluck().get()) : undefined;
  return { count: COUNT_CAP, atLeast: true, ...(estimate !== undefined && estimate > COUNT_CAP ? { estimate } : {}) };
}

/** A table's shape, or a 404 naming the tables there are. */
export function describeTable(db: Database.Database, name: string): TableShape {
  const entry = db.prepare("SELECT type, sql FROM sqlite_schema WHERE name = ? AND type IN ('table', 'view')").get(name) as { type: 'table' | 'view'; sql: string | null } | undefined;
  if (!entry) {
    const names = (db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name").pluck().all() as string[]).join(', ');
    throw new NotFoundError(`no table ${name}; the tables are: ${names || 'none'}`);
  }
  type XInfo = { name: string; type: string; notnull: bigint; dflt_value: string | null; pk: bigint; hidden: bigint };
  const columns = (db.prepare('SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)').all(name) as XInfo[])
    // hidden 1 is a virtual table's hidden column; 2 and 3 are generated columns, shown but never written.
    .filter((c) => c.hidden !== 1n)
    .map((c) => ({ name: c.name, type: c.type, notNull: c.notnull !== 0n, default: c.dflt_value, pk: Number(c.pk), generated: c.hidden !== 0n }));
  const listed = db.prepare('SELECT wr FROM pragma_table_list(?)').pluck().get(name) as bigint | undefined;
  const withoutRowid = listed === 1n;
  const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  const taken = new Set(columns.map((c) => c.name.toLowerCase()));
  const rowid = ROWID_NAMES.find((r) => !taken.has(r));
  const key = entry.type === 'view' ? [] : withoutRowid ? pk : rowid ? [rowid] : pk;
  const related = db.prepare("SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND name != ? AND sql IS NOT NULL ORDER BY type, name").pluck().all(name, name) as string[];
  return { name, type: entry.type, key, withoutRowid, columns, schema: [...(entry.sql ? [entry.sql] : []), ...related] };
}

type Term = { expr: string; desc: boolean };

/** One page of a table's rows by keyset paging: the cursor holds the last row's sort value and key, so any page costs what the first does. */
export function pageRows(db: Database.Database, shape: TableShape, q: RowQuery): RowPage {
  const limit = q.limit !== undefined && Number.isFinite(q.limit) ? Math.max(1, Math.min(MAX_PAGE_ROWS, Math.floor(q.limit))) : 100;
  const columnNames = shape.columns.map((c) => c.name);
  const column = (name: string): ColumnInfo => {
    const c = shape.columns.find((x) => x.name === name);
    if (!c) throw new InvalidRequestError(`no column ${name} in ${shape.name}; the columns are: ${columnNames.join(', ')}`);
    return c;
  };
  const params: SqlValue[] = [];
  const where: string[] = [];
  for (const f of q.filters ?? []) where.push(filterSql(column(f.column), f, params));

  const keyed = shape.key.length > 0;
  const desc = q.desc === true;
  const terms: Term[] = [];
  const keyIsSort = q.sort !== undefined && shape.key.length === 1 && q.sort === shape.key[0];
  if (q.sort !== undefined && !keyIsSort) terms.push({ expr: quoteIdent(column(q.sort).name), desc });
  for (const k of shape.key) terms.push({ expr: keyExpr(k), desc });

  let offset = 0;
  if (q.cursor) {
    const after = decodeCursor(q.cursor);
    if (!keyed) {
      offset = Number(after[0]);
      if (after.length !== 1 || !Number.isSafeInteger(offset) || offset < 0) throw new InvalidRequestError('this page link is no longer valid; open the first page again');
    } else {
      if (after.length !== terms.length) throw new InvalidRequestError('this page link is no longer valid; open the first page again');
      where.push(afterSql(terms, after, params));
    }
  }
  const select = [...terms.map((t) => t.expr), ...columnNames.map(quoteIdent)].join(', ');
  const order = terms.length ? ` ORDER BY ${terms.map((t) => `${t.expr}${t.desc ? ' DESC' : ''}`).join(', ')}` : '';
  const sql = `SELECT ${select} FROM ${quoteIdent(shape.name)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}${order} LIMIT ${limit + 1}${offset ? ` OFFSET ${offset}` : ''}`;
  const raw = db.prepare(sql).raw(true).all(...params) as unknown[][];
  const more = raw.length > limit;
  const rows = raw.slice(0, limit);
  const nkey = shape.key.length;
  const nterms = terms.length;
  const last = rows[rows.length - 1];
  let next: string | null = null;
  if (more && last) next = encodeCursor(keyed ? last.slice(0, nterms) : [BigInt(offset + limit)]);
  return {
    columns: columnNames,
    rows: rows.map((r) => ({ key: r.slice(nterms - nkey, nterms).map((v) => toWire(v, FULL)), values: r.slice(nterms).map((v) => toWire(v, PAGE_PREVIEW)) })),
    next,
  };
}

/** One row, found by its key, with its values whole (up to ROW_LIMITS), for editing. */
export function fetchRow(db: Database.Database, shape: TableShape, key: SqlValue[]): { columns: string[]; values: WireValue[] } | undefined {
  if (shape.key.length === 0 || key.length !== shape.key.length) throw new InvalidRequestError(`${shape.name} has no key to find a row by`);
  const names = shape.columns.map((c) => c.name);
  const sql = `SELECT ${names.map(quoteIdent).join(', ')} FROM ${quoteIdent(shape.name)} WHERE ${shape.key.map((k) => `${keyExpr(k)} IS ?`).join(' AND ')}`;
  const row = db.prepare(sql).raw(true).get(...key) as unknown[] | undefined;
  return row && { columns: names, values: row.map((v) => toWire(v, ROW_LIMITS)) };
}

/** The affinity SQLite gives a declared type (its section 3.1 rules), to bind a filter's text the way the column compares. */
function affinity(declared: string): 'integer' | 'text' | 'blob' | 'real' | 'numeric' {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t.includes('BLOB') || t === '') return 'blob';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'real';
  return 'numeric';
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function filterSql(c: ColumnInfo, f: Filter, params: SqlValue[]): string {
  const expr = quoteIdent(c.name);
  if (f.op === 'null') return `${expr} IS NULL`;
  if (f.op === 'notnull') return `${expr} IS NOT NULL`;
  if (typeof f.value !== 'string') throw new InvalidRequestError(`filter ${f.op} on ${c.name} needs a value`);
  // A column without affinity compares text and numbers as different values, so a number typed
  // into the filter is bound as a number there; elsewhere the column's affinity converts the text.
  const v = f.value;
  const bound: SqlValue = affinity(c.type) === 'blob' && NUMBER.test(v.trim()) ? (/^[+-]?\d+$/.test(v.trim()) ? BigInt(v.trim()) : Number(v)) : v;
  const ops = { eq: '=', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' } as const;
  if (f.op in ops) {
    params.push(bound);
    return `${expr} ${ops[f.op as keyof typeof ops]} ?`;
  }
  params.push(v);
  if (f.op === 'contains') return `instr(${expr}, ?) > 0`;
  if (f.op === 'starts') return `instr(${expr}, ?) = 1`;
  throw new InvalidRequestError(`unknown filter ${String(f.op)}`);
}

/**
 * Rows strictly after `after` in the order of `terms`: lexicographic, with SQLite's NULL order
 * (NULL first ascending, last descending). `x IS ?` matches NULL too, where `=` would not.
 */
function afterSql(terms: Term[], after: SqlValue[], params: SqlValue[]): string {
  const alternatives = terms.map((t, i) => {
    const parts: string[] = [];
    for (let j = 0; j < i; j++) {
      parts.push(`${terms[j]!.expr} IS ?`);
      params.push(after[j]!);
    }
    const v = after[i]!;
    if (v === null) parts.push(t.desc ? '0' : `${t.expr} IS NOT NULL`);
    else {
      parts.push(t.desc ? `(${t.expr} < ? OR ${t.expr} IS NULL)` : `${t.expr} > ?`);
      params.push(v);
    }
    return `(${parts.join(' AND ')})`;
  });
  return `(${alternatives.join(' OR ')})`;
}

function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values.map((v) => toWire(v, FULL)))).toString('base64url');
}

function decodeCursor(cursor: string): SqlValue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidRequestError('this page link is no longer valid; open the first page again');
  }
  if (!Array.isArray(parsed)) throw new InvalidRequestError('this page link is no longer valid; open the first page again');
  return parsed.map(fromWire);
}
