import type { Command } from 'commander';
import { createBackupTarget } from '../../backup/create-target.ts';
import { listGenerations } from '../../backup/restore.ts';
import { loadConfig, resolveConfigPath } from '../../config/load-config.ts';
import { ConfigError } from '../../errors.ts';
import { formatTable } from '../table.ts';

/** `litefleet backup ls [--db NAME]`: the generations in the backup target with their first and last restore points. */
export function registerBackup(program: Command): void {
  const backup = program.command('backup').description('inspect the continuous backup');
  backup
    .command('ls')
    .description('list generations with their first and last restore point and size')
    .option('--db <name>', 'only this database')
    .option('-c, --config <path>', 'config file (its backup: section names the target)')
    .option('--json', 'print JSON')
    .action(async (opts: { db?: string; config?: string; json?: boolean }) => {
      const config = loadConfig(resolveConfigPath(opts.config));
      if (!config.backup) throw new ConfigError('the config has no backup: section');
      const gens = await listGenerations(createBackupTarget(config.backup), opts.db);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(gens, null, 2)}\n`);
        return;
      }
      const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
      process.stdout.write(
        formatTable(
          ['DATABASE', 'GENERATION', 'FIRST TXID', 'FIRST AT', 'LAST TXID', 'LAST AT', 'FILES', 'SIZE'],
          gens.map((g) => [g.db, g.generation, String(g.first.txid), at(g.first.timestamp), String(g.last.txid), at(g.last.timestamp), String(g.files), `${(g.bytes / 1024 / 1024).toFixed(2)} MB`]),
        ),
      );
    });
}
