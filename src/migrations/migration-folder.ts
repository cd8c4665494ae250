import fs from 'node:fs';
import path from 'node:path';
import { MigrationsError } from '../errors.ts';

/** How a folder orders its migrations: Prisma's `<name>/migration.sql`, Drizzle's journal, or `.sql` files by name. */
export type MigrationFormat = 'prisma' | 'drizzle' | 'plain';

/** One migration: its name (folder, journal tag or file name) and its SQL. */
export interface Migration {
  name: string;
  file: string;
  sql: string;
}

/** The migrations of a folder in the order they are applied. */
export interface MigrationFolder {
  dir: string;
  format: MigrationFormat;
  migrations: Migration[];
}

/** Where `migrations check` looks when no folder is given, in order. */
export const DEFAULT_MIGRATION_DIRS = ['prisma/migrations', 'drizzle', 'migrations'];

const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Reads a Prisma (`prisma/` or `prisma/migrations/`), Drizzle (`drizzle/` with `meta/_journal.json`)
 * or plain folder (`*.sql`, applied in name order, numbers compared as numbers).
 */
export function readMigrationFolder(given?: string): MigrationFolder {
  const dir = given ?? DEFAULT_MIGRATION_DIRS.find((d) => fs.existsSync(d));
  if (!dir) throw new MigrationsError(`no migrations folder given and none found at ${DEFAULT_MIGRATION_DIRS.join(', ')}`);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new MigrationsError(`${dir} is not a folder`);
  const prismaDir = fs.existsSync(path.join(dir, 'migrations')) && prismaMigrations(path.join(dir, 'migrations')).length > 0 ? path.join(dir, 'migrations') : dir;
  const prisma = prismaMigrations(prismaDir);
  if (prisma.length > 0) return { dir: prismaDir, format: 'prisma', migrations: prisma };
  const journal = path.join(dir, 'meta', '_journal.json');
  if (fs.existsSync(journal)) return { dir, format: 'drizzle', migrations: drizzleMigrations(dir, journal) };
  const plain = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort(byName)
    .map((f) => migration(f.slice(0, -4), path.join(dir, f)));
  if (plain.length === 0) throw new MigrationsError(`${dir} holds no migrations: no <name>/migration.sql (Prisma), no meta/_journal.json (Drizzle), no .sql files`);
  return { dir, format: 'plain', migrations: plain };
}

function prismaMigrations(dir: string): Migration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort(byName)
    .map((name) => migration(name, path.join(dir, name, 'migration.sql')));
}

function drizzleMigrations(dir: string, journal: string): Migration[] {
  let entries: Array<{ idx: number; tag: string }>;
  try {
    entries = (JSON.parse(fs.readFileSync(journal, 'utf8')) as { entries: Array<{ idx: number; tag: string }> }).entries;
    if (!Array.isArray(entries)) throw new Error('no "entries" array');
  } catch (err) {
    throw new MigrationsError(`cannot read Drizzle's journal ${journal}: ${(err as Error).message}`);
  }
  return [...entries].sort((a, b) => a.idx - b.idx).map((e) => migration(e.tag, path.join(dir, `${e.tag}.sql`)));
}

function migration(name: string, file: string): Migration {
  try {
    return { name, file, sql: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    throw new MigrationsError(`cannot read migration ${name}: ${(err as Error).message}`);
  }
}
