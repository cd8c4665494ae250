import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { readDatabaseState } from '../../src/sqlite/apply-ltx.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Creates a database the way an app would, in WAL mode, with the tables the writer fixture uses. */
export function createAppDatabase(file: string, options: { autoVacuum?: boolean } = {}): void {
  // Built under a hidden name and renamed into place, so a running node sees it appear whole.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.creating`);
  const db = new Database(tmp);
  if (options.autoVacuum) db.pragma('auto_vacuum = FULL');
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
    CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
    CREATE TABLE log(id INTEGER PRIMARY KEY, note TEXT, blob BLOB);
  `);
  const ins = db.prepare('INSERT INTO accounts(id, balance) VALUES (?, 1000)');
  db.transaction(() => {
    for (let i = 1; i <= 100; i++) ins.run(i);
  })();
  db.close();
  fs.renameSync(tmp, file);
}

/** Runs the writer fixture in a child process (at `rate` tx/s when given); resolves with the number of commits it made. */
export function runWriter(file: string, workload: 'inserts' | 'transfers' | 'mixed', count: number, seed = 1, rate = 0): Promise<{ commits: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, '../fixtures/writer.mjs'), file, workload, String(count), String(seed), String(rate)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as { commits: number });
      else reject(new Error(`writer exited with ${code}: ${err}`));
    });
  });
}

/** Runs a SQL script through Debian's sqlite3 CLI, fed on stdin as a user would pipe it. */
export function runSqliteCli(file: string, script: string, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sqlite3', [...args, file], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 && err === '' ? resolve(out) : reject(new Error(`sqlite3 exited with ${code}: ${err}`))));
    child.stdin.end(script);
  });
}

/** Checksum, page count and page size of a live database, read through sqlite_dbpage. */
export function databaseChecksum(file: string): { checksum: bigint; pageCount: number; pageSize: number } {
  const db = new Database(file, { readonly: true, timeout: 5000 });
  try {
    const s = readDatabaseState(db);
    return { checksum: s.checksum.value, pageCount: s.pageCount, pageSize: s.pageSize };
  } finally {
    db.close();
  }
}

/** Every row of every table, for comparing two databases. */
export function dumpRows(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true, timeout: 5000 });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check of a database file. */
export function integrityCheck(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** What a reader fixture saw. */
export interface ReaderResult {
  iterations: number;
  errors: string[];
  violations: string[];
}

/** Starts the reader fixture on a (replica) database; `stop()` ends it and returns what it saw. */
export function startReader(file: string): { stop(): Promise<ReaderResult> } {
  const child = spawn(process.execPath, [path.join(here, '../fixtures/reader.mjs'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // A test that failed before stopping its readers must not leave them running.
  after(() => {
    child.kill('SIGKILL');
  });
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      try {
        return JSON.parse(out) as ReaderResult;
      } catch {
        throw new Error(`reader printed no result: ${out} ${err}`);
      }
    },
  };
}
