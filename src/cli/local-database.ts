import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config/schema.ts';
import { LitefleetError } from '../errors.ts';
import { isDatabaseFile } from '../store/store.ts';

/** Opens this node's copy of database `name` read-only (reads are local on every node). */
export function openLocalDatabase(config: Config, name: string): Database.Database {
  const file = path.join(config.dir, name);
  if (name.includes('/') || !isDatabaseFile(file)) {
    const known = fs.existsSync(config.dir) ? fs.readdirSync(config.dir).filter((n) => isDatabaseFile(path.join(config.dir, n))) : [];
    throw new LitefleetError('ENODB', `unknown database ${name} in ${config.dir}; the databases are: ${known.join(', ') || 'none'}`);
  }
  return new Database(file, { readonly: true, timeout: 5000 });
}
