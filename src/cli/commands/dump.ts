import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { dumpDatabase } from '../../sql/dump.ts';
import { openLocalDatabase } from '../local-database.ts';

/** `litefleet dump --db NAME [--data-only] [--table T] [-o FILE]`: SQL as the sqlite3 CLI's `.dump` writes it. */
export function registerDump(program: Command): void {
  program
    .command('dump')
    .description('write a database as SQL, as the sqlite3 CLI\'s .dump does (from this node\'s copy)')
    .requiredOption('--db <name>', 'database name (its file name in dir)')
    .option('--data-only', 'only INSERT statements (for seeding)')
    .option('--table <name>', 'only this table')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('-c, --config <path>', 'config file of the local node')
    .action((opts: { db: string; dataOnly?: boolean; table?: string; output?: string; config?: string }) => {
      const db = openLocalDatabase(loadConfig(resolveConfigPath(opts.config)), opts.db);
      const fd = opts.output ? fs.openSync(opts.output, 'w') : 1;
      try {
        db.exec('BEGIN');
        for (const chunk of dumpDatabase(db, { dataOnly: opts.dataOnly, table: opts.table })) fs.writeSync(fd, chunk);
      } finally {
        if (db.inTransaction) db.exec('COMMIT');
        db.close();
        if (fd !== 1) fs.closeSync(fd);
      }
    });
}
