import Database from 'better-sqlite3';
import { MigrationsError } from '../errors.ts';
import type { MigrationFolder } from './migration-folder.ts';
import { findNarrowingChanges, type NarrowingChange } from './narrowing-change.ts';
import { readSchemaShape } from './schema-shape.ts';

/** What `migrations check` found. */
export interface MigrationCheckReport {
  dir: string;
  format: MigrationFolder['format'];
  /** Every migration, in order. */
  migrations: string[];
  /** The ones compared against the schema before them. */
  checked: string[];
  changes: NarrowingChange[];
}

/** Options of checkMigrations. */
export interface CheckMigrationsOptions {
  /** Check this migration and every later one (default: only the newest). */
  since?: string;
}

/**
 * Applies the folder's migrations in order to an empty in-memory SQLite database and, around each
 * one checked, compares the schema before and after it for changes that break the version of the
 * app still running while it is deployed.
 */
export function checkMigrations(folder: MigrationFolder, o: CheckMigrationsOptions = {}): MigrationCheckReport {
  const names = folder.migrations.map((m) => m.name);
  let first = names.length - 1;
  if (o.since !== undefined) {
    first = names.indexOf(o.since);
    if (first < 0) throw new MigrationsError(`no migration named ${o.since} in ${folder.dir}; there are: ${names.join(', ')}`);
  }
  const db = new Database(':memory:');
  const changes: NarrowingChange[] = [];
  try {
    folder.migrations.forEach((m, i) => {
      const before = i >= first ? readSchemaShape(db) : undefined;
      try {
        db.exec(m.sql);
      } catch (err) {
        throw new MigrationsError(`migration ${m.name} (${m.file}) does not apply after the ones before it: ${(err as Error).message}`);
      }
      if (before) changes.push(...findNarrowingChanges(before, readSchemaShape(db), m));
    });
  } finally {
    db.close();
  }
  return { dir: folder.dir, format: folder.format, migrations: names, checked: names.slice(first), changes };
}
