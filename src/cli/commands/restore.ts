import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { createBackupTarget } from '../../backup/create-target.ts';
import { restoreDatabase, type RestoreTarget } from '../../backup/restore.ts';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { ConfigError, LitefleetError } from '../../errors.ts';
import { NodeClient } from '../../protocol/node-client.ts';
import { progressBar } from '../progress.ts';
import { importIntoCluster } from './export-import.ts';

/** `litefleet restore --db NAME (--txid N | --timestamp ISO | --latest) (-o out.db | --into-cluster)`. */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('build a database from the backup as it was at a transaction or a moment, verified')
    .requiredOption('--db <name>', 'database name')
    .option('--txid <n>', 'restore to exactly this transaction')
    .option('--timestamp <iso>', 'restore to the last transaction committed at or before this time')
    .option('--latest', 'restore to the newest transaction in the backup')
    .option('-o, --output <file>', 'the database file to write (must not exist)')
    .option('--into-cluster', 'load the restored database into the live cluster (as one transaction; the state before stays restorable)')
    .option('-c, --config <path>', 'config file (its backup: section names the target)')
    .action(async (opts: { db: string; txid?: string; timestamp?: string; latest?: boolean; output?: string; intoCluster?: boolean; config?: string }) => {
      if (!opts.output && !opts.intoCluster) throw new LitefleetError('EUSAGE', 'give -o FILE, --into-cluster, or both');
      const chosen = [opts.txid, opts.timestamp, opts.latest].filter((x) => x !== undefined).length;
      if (chosen !== 1) throw new LitefleetError('EUSAGE', 'give exactly one of --txid, --timestamp or --latest');
      let to: RestoreTarget;
      if (opts.txid !== undefined) {
        if (!/^\d+$/.test(opts.txid)) throw new LitefleetError('EUSAGE', `--txid ${opts.txid} is not a number`);
        to = { txid: Number(opts.txid) };
      } else if (opts.timestamp !== undefined) {
        const ms = Date.parse(opts.timestamp);
        if (Number.isNaN(ms)) throw new LitefleetError('EUSAGE', `--timestamp ${opts.timestamp} is not a date (use ISO 8601, e.g. 2026-11-25T10:00:00Z)`);
        to = { timestamp: ms };
      } else {
        to = { latest: true };
      }
      const config = loadConfig(resolveConfigPath(opts.config));
      if (!config.backup) throw new ConfigError('the config has no backup: section');
      const bar = progressBar('restoring');
      let started = false;
      const output = path.resolve(opts.output ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-restore-')), opts.db));
      const res = await restoreDatabase(createBackupTarget(config.backup), opts.db, to, output, (done, total) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(done);
      }).finally(() => started && bar.stop());
      process.stdout.write(`restored ${opts.db} at TXID ${res.txid} (${new Date(res.timestamp).toISOString()}, generation ${res.generation}, ${res.pages} pages, checksum verified, integrity_check ok)${opts.output ? ` to ${opts.output}` : ''}\n`);
      if (opts.intoCluster) {
        const loaded = await importIntoCluster(NodeClient.fromConfig(config), config.http.token ?? process.env.LITEFLEET_TOKEN ?? '', opts.db, output);
        if (!opts.output) fs.rmSync(path.dirname(output), { recursive: true, force: true });
        process.stdout.write(`loaded into the cluster as TXID ${loaded.txid}\n`);
      }
    });
}
