import type { ColumnShape, SchemaShape, TableShape } from './schema-shape.ts';

/** What kind of change breaks the version of the app that is still running during a deploy. */
export type NarrowingKind =
  | 'table-dropped'
  | 'table-renamed'
  | 'column-dropped'
  | 'column-renamed'
  | 'not-null-without-default'
  | 'type-changed'
  | 'constraint-changed'
  | 'unique-index-added';

/** One narrowing change of one migration, with what it breaks and what to do instead. */
export interface NarrowingChange {
  migration: string;
  kind: NarrowingKind;
  /** `Table` or `Table.column`. */
  object: string;
  /** What the migration does to it. */
  change: string;
  /** What fails in the version still running. */
  breaks: string;
  /** The widen-then-narrow steps, each its own deploy. */
  instead: string[];
  /** The migration says `-- litefleet: allow-narrowing`: the final narrow step, done on purpose. */
  allowed: boolean;
}

/** The comment that marks a migration as the narrow step of a widen-then-narrow sequence. */
export const ALLOW_NARROWING = /--\s*litefleet:\s*allow-narrowing\b/i;
const MARK = '`-- litefleet: allow-narrowing`';

const ID = String.raw`("[^"]+"|\x60[^\x60]+\x60|\[[^\]]+\]|[A-Za-z_][\w$]*)`;
const TABLE_RENAME = new RegExp(String.raw`ALTER\s+TABLE\s+${ID}\s+RENAME\s+TO\s+${ID}`, 'gi');
const COLUMN_RENAME = new RegExp(String.raw`ALTER\s+TABLE\s+${ID}\s+RENAME\s+(?:COLUMN\s+)?(?!TO\b)${ID}\s+TO\s+${ID}`, 'gi');
// Prisma (and drizzle-kit) redefine a SQLite table by copying it: INSERT INTO "new_T" (cols) SELECT cols FROM "T".
const TABLE_COPY = new RegExp(String.raw`INSERT\s+INTO\s+${ID}\s*\(([^)]*)\)\s*SELECT\s+([\s\S]*?)\s+FROM\s+${ID}`, 'gi');

function unquote(id: string): string {
  const t = id.trim();
  return /^["`[]/.test(t) ? t.slice(1, -1) : t;
}

/** Tables and columns the migration's SQL renames, including copies made by a table redefinition. */
function renamesIn(sql: string): { tables: Map<string, string>; columns: Map<string, string> } {
  const code = sql.replace(/--[^\n]*/g, '');
  const tables = new Map<string, string>();
  for (const m of code.matchAll(TABLE_RENAME)) tables.set(unquote(m[1]!), unquote(m[2]!));
  const finalName = (t: string) => tables.get(t) ?? t;
  const columns = new Map<string, string>();
  for (const m of code.matchAll(COLUMN_RENAME)) columns.set(`${finalName(unquote(m[1]!))}.${unquote(m[2]!)}`, unquote(m[3]!));
  for (const m of code.matchAll(TABLE_COPY)) {
    const target = finalName(unquote(m[1]!));
    const source = unquote(m[4]!);
    if (target !== source) continue;
    const into = m[2]!.split(',').map(unquote);
    const from = m[3]!.split(',').map((e) => e.trim());
    into.forEach((col, i) => {
      const expr = from[i];
      if (expr && new RegExp(`^${ID}$`).test(expr) && unquote(expr) !== col) columns.set(`${source}.${unquote(expr)}`, col);
    });
  }
  return { tables, columns };
}

/** The changes from `before` to `after` (the schema around `migration`) that break the version still running. */
export function findNarrowingChanges(before: SchemaShape, after: SchemaShape, migration: { name: string; sql: string }): NarrowingChange[] {
  const allowed = ALLOW_NARROWING.test(migration.sql);
  const renames = renamesIn(migration.sql);
  const changes: NarrowingChange[] = [];
  const add = (kind: NarrowingKind, object: string, change: string, breaks: string, instead: string[]) => changes.push({ migration: migration.name, kind, object, change, breaks, instead, allowed });

  for (const [name, old] of before.tables) {
    const now = after.tables.get(name);
    if (!now) {
      const renamed = renames.tables.get(name);
      if (renamed && after.tables.has(renamed) && !before.tables.has(renamed)) {
        add('table-renamed', name, `renamed to ${renamed}`, `its queries on ${name} fail: "no such table: ${name}"`, [
          `Create ${renamed} beside ${name} and copy the rows in the migration; deploy a version that writes both and reads ${renamed}.`,
          `Deploy a version that uses only ${renamed}.`,
          `Drop ${name} in a later migration marked ${MARK}.`,
        ]);
      } else {
        add('table-dropped', name, 'dropped', `its queries on ${name} fail: "no such table: ${name}"`, [
          `Deploy a version of the app that no longer reads or writes ${name} (no migration).`,
          `Drop ${name} in a later migration marked ${MARK}.`,
        ]);
      }
      continue;
    }
    compareTable(old, now, renames.columns, add);
  }
  return changes;
}

type Add = (kind: NarrowingKind, object: string, change: string, breaks: string, instead: string[]) => void;

function compareTable(old: TableShape, now: TableShape, columnRenames: Map<string, string>, add: Add): void {
  const t = old.name;
  const renamedTo = new Map<string, string>();
  for (const [col] of old.columns) {
    if (now.columns.has(col)) continue;
    const target = columnRenames.get(`${t}.${col}`);
    if (target && now.columns.has(target) && !old.columns.has(target)) {
      renamedTo.set(col, target);
      add('column-renamed', `${t}.${col}`, `renamed to ${target}`, `its queries naming ${t}.${col} fail: "no such column: ${col}" (Prisma names every column, so every query on ${t} does)`, [
        `Add ${t}.${target} beside ${col} (nullable or with a DEFAULT) and copy the values in the same migration (UPDATE "${t}" SET "${target}" = "${col}"); deploy a version that writes both and reads ${target}.`,
        `Deploy a version that uses only ${target}.`,
        `Drop ${t}.${col} in a later migration marked ${MARK}.`,
      ]);
    } else {
      add('column-dropped', `${t}.${col}`, 'dropped', `its queries naming ${t}.${col} fail: "no such column: ${col}" (Prisma names every column, so every query on ${t} does)`, [
        `Deploy a version of the app that no longer reads or writes ${t}.${col} (no migration).`,
        `Drop ${t}.${col} in a later migration marked ${MARK}.`,
      ]);
    }
  }
  const renamedTargets = new Set(renamedTo.values());
  const added = new Map<string, ColumnShape>();
  for (const [col, c] of now.columns) {
    if (old.columns.has(col) || renamedTargets.has(col)) continue;
    added.set(col, c);
    if (c.notNull && c.default === null && c.pk === 0 && !c.generated) {
      add('not-null-without-default', `${t}.${col}`, 'added NOT NULL without a DEFAULT', `its INSERTs into ${t} do not set ${col} and fail: "NOT NULL constraint failed: ${t}.${col}"`, [
        `Add ${t}.${col} as nullable (or with a DEFAULT) and fill it in the migration; deploy a version that always writes ${col}.`,
        `Make ${t}.${col} NOT NULL in a later migration marked ${MARK}.`,
      ]);
    }
  }
  for (const [col, was] of old.columns) {
    const c = now.columns.get(col);
    if (!c) continue;
    const obj = `${t}.${col}`;
    if (c.type !== was.type) {
      add('type-changed', obj, `type ${was.type || '(none)'} → ${c.type || '(none)'}`, `it writes and reads ${col} as ${was.type || 'untyped'}: what it writes may be converted or refused, and it may misread what the new version writes`, [
        `Add a column of type ${c.type} beside ${col}, fill it from ${col} in the migration; deploy a version that writes both and reads the new one.`,
        'Deploy a version that uses only the new column.',
        `Drop ${obj} in a later migration marked ${MARK}.`,
      ]);
    }
    const rules: string[] = [];
    if (c.notNull && !was.notNull) rules.push('NOT NULL added');
    if (was.default !== null && c.default === null) rules.push(`DEFAULT ${was.default} removed`);
    if (c.pk !== was.pk) rules.push(c.pk ? 'made part of the primary key' : 'taken out of the primary key');
    for (const rule of rules) constraint(add, obj, rule, rule === 'NOT NULL added' ? `its writes that leave ${col} empty fail: "NOT NULL constraint failed: ${obj}"` : `its INSERTs that leave ${col} out fail or store NULL`);
  }
  // Rules over a renamed column are compared under its new name (the rename is reported already).
  const rename = (cols: string, sep: string) => cols.split(sep).map((c) => renamedTo.get(c) ?? c).join(sep);
  const oldForeignKeys = new Set([...old.foreignKeys].map((fk) => fk.replace(/^\(([^)]*)\)/, (_m, cols: string) => `(${rename(cols, ', ')})`)));
  for (const fk of now.foreignKeys) {
    if (!oldForeignKeys.has(fk)) constraint(add, t, `foreign key ${fk} added or changed`, 'its writes whose references do not match it fail: "FOREIGN KEY constraint failed"');
  }
  for (const check of now.checks) {
    if (!old.checks.has(check)) constraint(add, t, `CHECK (${check}) added or changed`, `its writes that break it fail: "CHECK constraint failed"`);
  }
  const oldUniques = new Set([...old.uniques.keys()].map((k) => k.replace(/^[^ ]*/, (cols) => rename(cols, ','))));
  for (const [key, index] of now.uniques) {
    if (oldUniques.has(key)) continue;
    const cols = key.split(' WHERE ')[0]!.split(',');
    // SQLite's NULLs never collide in a unique index: one over a new column without a DEFAULT cannot refuse the old version's rows.
    if (cols.some((c) => added.has(c) && added.get(c)!.default === null)) continue;
    add('unique-index-added', `${t}(${cols.join(', ')})`, `unique index ${index} added`, `its INSERTs and UPDATEs that repeat a value of (${cols.join(', ')}) fail: "UNIQUE constraint failed"`, [
      `Deploy a version that never writes a duplicate of (${cols.join(', ')}), and remove the duplicates already there in a migration.`,
      `Add the unique index in a later migration marked ${MARK}.`,
    ]);
  }
}

function constraint(add: Add, object: string, rule: string, breaks: string): void {
  add('constraint-changed', object, rule, breaks, [
    `Deploy a version whose writes always satisfy the new rule, and fix the rows that do not in a migration.`,
    `Add the rule in a later migration marked ${MARK}.`,
  ]);
}
