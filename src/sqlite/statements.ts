import type Database from 'better-sqlite3';

const prepared = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * `sql` prepared once per connection and kept with it. Statements run at every apply or capture
 * pass (BEGIN, COMMIT, a pragma, a page insert) were otherwise parsed each time: on a replica at
 * 1000 applies a second, db.pragma and db.exec were a fifth of its time.
 */
export function statement(db: Database.Database, sql: string): Database.Statement {
  let byText = prepared.get(db);
  if (!byText) prepared.set(db, (byText = new Map()));
  let stmt = byText.get(sql);
  if (!stmt) byText.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}

/** The value of a pragma that answers with one (`schema_version`, `data_version`), through statement(). */
export function pragmaValue(db: Database.Database, name: string): number {
  return Number(statement(db, `PRAGMA ${name}`).pluck().get());
}
