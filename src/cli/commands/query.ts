import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { LitefleetError } from '../../errors.ts';
import { openLocalDatabase } from '../local-database.ts';
import { formatRows } from '../table.ts';

/** `litefleet query --db NAME "SELECT …" [--json]`: reads this node's copy. */
export function registerQuery(program: Command): void {
  program
    .command('query')
    .description('run a read-only query on this node\'s copy of a database')
    .argument('<sql>', 'the query')
    .requiredOption('--db <name>', 'database name (its file name in dir)')
    .option('--json', 'print the rows as a JSON array')
    .option('-c, --config <path>', 'config file of the local node')
    .action((sql: string, opts: { db: string; json?: boolean; config?: string }) => {
      const db = openLocalDatabase(loadConfig(resolveConfigPath(opts.config)), opts.db);
      try {
        const stmt = db.prepare(sql);
        if (!stmt.reader) throw new LitefleetError('EUSAGE', 'query only reads; run writes with litefleet exec (they go to the primary)');
        const rows = stmt.all() as Record<string, unknown>[];
        const columns = stmt.columns().map((c) => c.name);
        process.stdout.write(opts.json ? `${JSON.stringify(rows, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v))}\n` : formatRows(columns, rows));
      } finally {
        db.close();
      }
    });
}
