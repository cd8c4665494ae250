import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { LitefleetError } from '../../errors.ts';
import type { ExecResult } from '../../sql/exec-sql.ts';
import { NodeClient } from '../node-client.ts';

/** Sends a script to the primary (through the local node) and waits until this node has applied it. */
export async function execOnCluster(client: NodeClient, db: string, sql: string, timeoutMs = 30_000): Promise<ExecResult> {
  const res = await client.postJson<ExecResult>(`/db/${encodeURIComponent(db)}/exec`, { sql });
  await client.waitForTxid(db, res.txid, timeoutMs);
  return res;
}

/** `litefleet exec --db NAME "SQL" | -f FILE`: runs SQL on the primary as one transaction, from any node. */
export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run SQL on the primary in one transaction (from any node); returns once this node has it')
    .argument('[sql]', 'the statements to run')
    .requiredOption('--db <name>', 'database name (its file name in dir)')
    .option('-f, --file <path>', 'read the statements from a file (a seed, a data-only dump)')
    .option('-c, --config <path>', 'config file of the local node')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .action(async (sql: string | undefined, opts: { db: string; file?: string; config?: string; url?: string }) => {
      if ((sql === undefined) === (opts.file === undefined)) throw new LitefleetError('EUSAGE', 'give the SQL as an argument or with -f FILE (one of them)');
      const text = opts.file === undefined ? sql! : opts.file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(opts.file, 'utf8');
      const config = loadConfig(resolveConfigPath(opts.config));
      const res = await execOnCluster(NodeClient.fromOptions(config, opts.url), opts.db, text);
      process.stdout.write(`committed as TXID ${res.txid}: ${res.statements} statements, ${res.changes} rows changed\n`);
    });
}
