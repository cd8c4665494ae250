import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { LitefleetError } from '../../errors.ts';
import type { ExecResult } from '../../sql/exec-sql.ts';
import { NodeClient } from '../../protocol/node-client.ts';
import { syncWriteQuery } from '../../protocol/sync-write.ts';

// How long the command waits for the local node to have the transaction it committed.
const LOCAL_TIMEOUT_MS = 30_000;

/** What POST /db/<name>/exec answers: the result and, with `?replicas=N`, the ids of the replicas that had it. */
export type ExecAnswer = ExecResult & { replicas?: string[] };

/**
 * Sends a script to the primary (through the local node) and waits until this node has applied
 * it; with `sync.replicas`, the primary answers only once that many replicas have it.
 */
export async function execOnCluster(client: NodeClient, db: string, sql: string, sync: { replicas?: string; timeout?: string } = {}): Promise<ExecAnswer> {
  const res = await client.postJson<ExecAnswer>(`/db/${encodeURIComponent(db)}/exec${syncWriteQuery(sync.replicas, sync.timeout)}`, { sql });
  await client.waitForTxid(db, res.txid, LOCAL_TIMEOUT_MS);
  return res;
}

/** `litefleet exec --db NAME "SQL" | -f FILE [--replicas N [--timeout MS]]`: runs SQL on the primary as one transaction, from any node. */
export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run SQL on the primary in one transaction (from any node); returns once this node has it')
    .argument('[sql]', 'the statements to run')
    .requiredOption('--db <name>', 'database name (its file name in dir)')
    .option('-f, --file <path>', 'read the statements from a file (a seed, a data-only dump)')
    .option('--replicas <n>', 'return only once N replicas have applied the transaction')
    .option('--timeout <ms>', 'how long the primary waits for those replicas (default 5000); past it the command fails, the transaction committed')
    .option('-c, --config <path>', 'config file of the local node')
    .option('--url <url>', 'node API URL (instead of the config\'s http.addr)')
    .action(async (sql: string | undefined, opts: { db: string; file?: string; replicas?: string; timeout?: string; config?: string; url?: string }) => {
      if ((sql === undefined) === (opts.file === undefined)) throw new LitefleetError('EUSAGE', 'give the SQL as an argument or with -f FILE (one of them)');
      const text = opts.file === undefined ? sql! : opts.file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(opts.file, 'utf8');
      const config = loadConfig(resolveConfigPath(opts.config));
      const res = await execOnCluster(NodeClient.fromOptions(config, opts.url), opts.db, text, opts);
      const on = res.replicas ? `; on ${res.replicas.length} ${res.replicas.length === 1 ? 'replica' : 'replicas'} (${res.replicas.join(', ')})` : '';
      process.stdout.write(`committed as TXID ${res.txid}: ${res.statements} statements, ${res.changes} rows changed${on}\n`);
    });
}
